using CudaI2V.Kernels;
using CudaI2V.Kernels.Cpu;
using CudaI2V.Layers.Modules;
using CudaI2V.Layers.UNet;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Layers;

/// <summary>
/// Every module recorded in unet-tiny/blocks.safetensors (diffusers' inputs and outputs of one module of each
/// kind, 3 frames at 12x16) against the same module of our UNet, fed the recorded inputs, so a mismatch points
/// at its block. Images in the file are NCHW; ours are NHWC.
/// </summary>
public sealed class UNetBlockTests : IClassFixture<UNetBlockTests.Model>
{
    private const double Tolerance = 1e-4;
    private readonly Model _m;

    public UNetBlockTests(Model model) => _m = model;

    private IOps Ops => _m.Ops;

    [Fact]
    public void Time_proj_and_embeddings()
    {
        var t = Raw("time_proj::in.0").ToFloat32Array();
        Check("time_proj::out", _m.Unet.TimeProjection(t));
        var timeEmbedding = EmbeddingMlp.TimestepEmbedding(_m.Binder, "time_embedding", 32, 128);
        Check("time_embedding::out", timeEmbedding.Forward(In("time_embedding::in.0")));
        Check("fps_embedding::out", EmbeddingMlp.Sequential(_m.Binder, "fps_embedding", 32, 128, 128).Forward(In("fps_embedding::in.0")));
        Check("context_embedding::out", EmbeddingMlp.Sequential(_m.Binder, "context_embedding", 32, 128, 128).Forward(In("context_embedding::in.0")));
    }

    [Fact]
    public void Image_latent_paths()
    {
        // The context path's output is an NCHW 8x8 map; ours is its 64 tokens (y, then x).
        var tokens = _m.Unet.ImageLatentTokens(Image("image_latents_context_embedding::in.0"));
        Check("image_latents_context_embedding::out", Ops.NchwToNhwc(Ops.FromHost(Raw("image_latents_context_embedding::out"))).Reshape(2, 64, 32), tokens);
        CheckImage("image_latents_proj_in::out", _m.Unet.ImageLatentsProjIn(Image("image_latents_proj_in::in.0")));

        var encoder = new I2VGenXLTransformerTemporalEncoder(_m.Binder, "image_latents_temporal_encoder", 4, 2, 4, 16);
        Check("image_latents_temporal_encoder::out", encoder.Forward(In("image_latents_temporal_encoder::in.0")));
        Check("image_latents_temporal_encoder.norm1::out", new LayerNorm(_m.Binder, "image_latents_temporal_encoder.norm1", 4, 1e-5f).Forward(In("image_latents_temporal_encoder.norm1::in.0")));
        Check("image_latents_temporal_encoder.attn1::out", new Attention(_m.Binder, "image_latents_temporal_encoder.attn1", 4, 4, 2, 4).Forward(In("image_latents_temporal_encoder.attn1::in.0")));
        Check("image_latents_temporal_encoder.ff::out", new FeedForward(_m.Binder, "image_latents_temporal_encoder.ff", 4, 16, FeedForwardActivation.Gelu).Forward(In("image_latents_temporal_encoder.ff::in.0")));
    }

    [Fact]
    public void Stem_and_head()
    {
        CheckImage("conv_in::out", new Conv2d(_m.Binder, "conv_in", 8, 32, 3).Forward(Image("conv_in::in.0")));
        CheckImage("transformer_in::out.0", new TransformerTemporalModel(_m.Binder, "transformer_in", 32, 8, 8, 8).Forward(Image("transformer_in::in.0"), Frames("transformer_in::kw.num_frames")));
        CheckImage("conv_norm_out::out", new GroupNorm(_m.Binder, "conv_norm_out", 8, 32, 1e-5f).Forward(Image("conv_norm_out::in.0")));
        CheckImage("conv_out::out", new Conv2d(_m.Binder, "conv_out", 32, 4, 3).Forward(Image("conv_out::in.0")));
    }

    [Fact]
    public void Attention_feed_forward_and_transformer_block()
    {
        const string block = "down_blocks.0.attentions.0.transformer_blocks.0";
        var context = In($"{block}.attn2::kw.encoder_hidden_states");
        Check($"{block}.attn1::out", new Attention(_m.Binder, $"{block}.attn1", 32, 32, 4, 8).Forward(In($"{block}.attn1::in.0")));
        Check($"{block}.attn2::out", new Attention(_m.Binder, $"{block}.attn2", 32, 32, 4, 8).Forward(In($"{block}.attn2::in.0"), context));
        Check($"{block}.ff::out", new FeedForward(_m.Binder, $"{block}.ff", 32, 128, FeedForwardActivation.Geglu).Forward(In($"{block}.ff::in.0")));
        var transformerBlock = new BasicTransformerBlock(_m.Binder, block, 32, 4, 8, 32);
        Check($"{block}::out", transformerBlock.Forward(In($"{block}::in.0"), In($"{block}::kw.encoder_hidden_states")));

        const string temporal = "down_blocks.0.temp_attentions.0.transformer_blocks.0";
        Check($"{temporal}::out", new BasicTransformerBlock(_m.Binder, temporal, 32, 4, 8, null).Forward(In($"{temporal}::in.0"), null));
    }

    [Fact]
    public void Resnet_temporal_conv_transformers_and_samplers()
    {
        var resnet = new ResnetBlock2D(_m.Binder, "down_blocks.0.resnets.0", 32, 32, 128, 8, 1e-5f);
        CheckImage("down_blocks.0.resnets.0::out", resnet.Forward(Image("down_blocks.0.resnets.0::in.0"), Ops.Silu(In("down_blocks.0.resnets.0::in.1"))));
        var upResnet = new ResnetBlock2D(_m.Binder, "up_blocks.1.resnets.0", 128, 64, 128, 8, 1e-5f);
        CheckImage("up_blocks.1.resnets.0::out", upResnet.Forward(Image("up_blocks.1.resnets.0::in.0"), Ops.Silu(In("up_blocks.1.resnets.0::in.1"))));

        var tempConv = new TemporalConvLayer(_m.Binder, "down_blocks.0.temp_convs.0", 32, 8);
        CheckImage("down_blocks.0.temp_convs.0::out", tempConv.Forward(Image("down_blocks.0.temp_convs.0::in.0"), Frames("down_blocks.0.temp_convs.0::kw.num_frames")));

        var spatial = new Transformer2DModel(_m.Binder, "down_blocks.0.attentions.0", 32, 4, 8, 32, 8);
        CheckImage("down_blocks.0.attentions.0::out.0", spatial.Forward(Image("down_blocks.0.attentions.0::in.0"), In("down_blocks.0.attentions.0::kw.encoder_hidden_states")));
        var temporalModel = new TransformerTemporalModel(_m.Binder, "down_blocks.0.temp_attentions.0", 32, 4, 8, 8);
        CheckImage("down_blocks.0.temp_attentions.0::out.0", temporalModel.Forward(Image("down_blocks.0.temp_attentions.0::in.0"), Frames("down_blocks.0.temp_attentions.0::kw.num_frames")));

        CheckImage("down_blocks.0.downsamplers.0::out", new Downsample2D(_m.Binder, "down_blocks.0.downsamplers.0", 32, Downsample2D.Symmetric).Forward(Image("down_blocks.0.downsamplers.0::in.0")));
        CheckImage("up_blocks.0.upsamplers.0::out", new Upsample2D(_m.Binder, "up_blocks.0.upsamplers.0", 64).Forward(Image("up_blocks.0.upsamplers.0::in.0")));
    }

    [Theory]
    [InlineData(0, 3)]
    [InlineData(2, 2)]
    public void Down_blocks(int index, int outputs)
    {
        var prefix = $"down_blocks.{index}";
        var inputs = Inputs(prefix, withContext: index < 2);
        var skips = new List<Tensor>();
        var result = _m.Unet.DownBlocks[index].Forward(Image($"{prefix}::kw.hidden_states"), inputs, skips);
        CheckImage($"{prefix}::out.0", result);
        Assert.Equal(outputs, skips.Count);
        for (var i = 0; i < outputs; i++)
        {
            CheckImage($"{prefix}::out.1.{i}", skips[i]);
        }
    }

    [Fact]
    public void Mid_block()
    {
        var inputs = new BlockInputs(Ops.Silu(In("mid_block::in.1")), In("mid_block::kw.encoder_hidden_states"), Frames("mid_block::kw.num_frames"));
        CheckImage("mid_block::out", _m.Unet.MidBlock.Forward(Image("mid_block::in.0"), inputs));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void Up_blocks(int index)
    {
        var prefix = $"up_blocks.{index}";
        var inputs = Inputs(prefix, withContext: index > 0);
        var skips = Enumerable.Range(0, 3).Select(i => Image($"{prefix}::kw.res_hidden_states_tuple.{i}")).ToList();
        CheckImage($"{prefix}::out", _m.Unet.UpBlocks[index].Forward(Image($"{prefix}::kw.hidden_states"), inputs, skips, null));
        Assert.Empty(skips);
    }

    [Fact]
    public void Whole_unet_on_the_block_inputs()
    {
        var sample = Ops.NcfhwToNhwc(In("input.blocks.sample"));
        var conditioning = _m.Unet.Condition(
            Ops.NcfhwToNhwc(In("input.blocks.image_latents")), In("input.blocks.image_embeddings"), In("input.blocks.encoder_hidden_states"),
            Raw("input.blocks.fps").ToFloat32Array(), 3);
        var output = _m.Unet.Forward(sample, Raw("input.blocks.timestep").ToFloat32Array()[0], conditioning);
        Check("output.blocks", Ops.FromHost(Raw("output.blocks")), Ops.NhwcToNcfhw(output, 3));
    }

    private BlockInputs Inputs(string prefix, bool withContext) => new(
        Ops.Silu(In($"{prefix}::kw.temb")),
        withContext ? In($"{prefix}::kw.encoder_hidden_states") : Ops.Empty(DType.F32, new TensorShape(6, 1, 32)),
        Frames($"{prefix}::kw.num_frames"));

    private Tensor Raw(string name) => _m.Blocks.GetTensor(name);

    private Tensor In(string name) => Ops.FromHost(Raw(name));

    private Tensor Image(string name) => Ops.NchwToNhwc(In(name));

    private int Frames(string name) => (int)Raw(name).ToFloat32Array()[0];

    private void CheckImage(string name, Tensor actualNhwc) => Check(name, Ops.FromHost(Raw(name)), Ops.NhwcToNchw(actualNhwc));

    private void Check(string name, Tensor actual) => Check(name, Ops.FromHost(Raw(name)), actual);

    private void Check(string name, Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        var result = TensorComparison.Compare(Ops.ToHost(actual), Ops.ToHost(expected));
        Assert.True(result.Passes(Tolerance), $"{name}: {result} (worst index {result.WorstIndex})");
    }

    /// <summary>The tiny UNet (weights regenerated from the manifest) and the recorded module inputs and outputs.</summary>
    public sealed class Model : IDisposable
    {
        public Model()
        {
            var folder = Fixtures.ComponentModel("unet-tiny");
            var config = UNetConfig.Load(Path.Combine(folder, "config.json"));
            Weights = WeightSet.Open("unet", [Path.Combine(folder, "diffusion_pytorch_model.safetensors")]);
            Ops = new CpuOps();
            Binder = new WeightBinder(Ops, Weights);
            Unet = I2VGenXLUNet.Load(Ops, Weights, config);
            Blocks = SafetensorsFile.Open(Fixtures.Path("unet-tiny", "blocks.safetensors"));
        }

        public IOps Ops { get; }

        public WeightSet Weights { get; }

        public WeightBinder Binder { get; }

        public I2VGenXLUNet Unet { get; }

        public SafetensorsFile Blocks { get; }

        public void Dispose()
        {
            Blocks.Dispose();
            Weights.Dispose();
        }
    }
}
