using CudaI2V.Kernels;
using CudaI2V.Layers.Modules;
using CudaI2V.Layers.UNet;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Layers;

/// <summary>
/// The tiny UNet (weights regenerated from the manifest) on one backend, and how each module recorded in
/// unet-tiny/blocks.safetensors (diffusers' inputs and outputs of one module of each kind, 3 frames at 12x16) is
/// built and fed, so that the CPU and the GPU tests run exactly the same modules on the same inputs.
/// </summary>
public sealed class UNetBlocks : IDisposable
{
    private const string Block = "down_blocks.0.attentions.0.transformer_blocks.0";
    private const string Temporal = "down_blocks.0.temp_attentions.0.transformer_blocks.0";
    private const string Encoder = "image_latents_temporal_encoder";

    private readonly WeightSet _weights;
    private readonly WeightBinder _binder;
    private readonly SafetensorsFile _file;
    private readonly RecordedModules _r;

    /// <summary>Loads the tiny UNet onto <paramref name="ops"/> and opens the recording.</summary>
    public UNetBlocks(IOps ops)
    {
        var folder = Fixtures.ComponentModel("unet-tiny");
        _weights = WeightSet.Open("unet", [Path.Combine(folder, "diffusion_pytorch_model.safetensors")]);
        _binder = new WeightBinder(ops, _weights);
        Unet = I2VGenXLUNet.Load(ops, _weights, UNetConfig.Load(Path.Combine(folder, "config.json")));
        _file = SafetensorsFile.Open(Fixtures.Path("unet-tiny", "blocks.safetensors"));
        _r = new RecordedModules(ops, _file);
    }

    /// <summary>Every recorded module (its diffusers name; <c>unet</c> is the whole UNet on the block inputs) and its scale.</summary>
    public static IReadOnlyList<(string Module, ModuleScale Scale)> Catalogue { get; } =
    [
        ("time_proj", ModuleScale.Op),
        ("time_embedding", ModuleScale.Block),
        ("fps_embedding", ModuleScale.Block),
        ("context_embedding", ModuleScale.Block),
        ("image_latents_context_embedding", ModuleScale.Block),
        ("image_latents_proj_in", ModuleScale.Block),
        (Encoder, ModuleScale.Block),
        ($"{Encoder}.norm1", ModuleScale.Op),
        ($"{Encoder}.attn1", ModuleScale.Block),
        ($"{Encoder}.ff", ModuleScale.Block),
        ("conv_in", ModuleScale.Op),
        ("transformer_in", ModuleScale.Block),
        ("conv_norm_out", ModuleScale.Op),
        ("conv_out", ModuleScale.Op),
        ($"{Block}.attn1", ModuleScale.Block),
        ($"{Block}.attn2", ModuleScale.Block),
        ($"{Block}.ff", ModuleScale.Block),
        (Block, ModuleScale.Block),
        (Temporal, ModuleScale.Block),
        ("down_blocks.0.resnets.0", ModuleScale.Block),
        ("up_blocks.1.resnets.0", ModuleScale.Block),
        ("down_blocks.0.temp_convs.0", ModuleScale.Block),
        ("down_blocks.0.attentions.0", ModuleScale.Block),
        ("down_blocks.0.temp_attentions.0", ModuleScale.Block),
        ("down_blocks.0.downsamplers.0", ModuleScale.Op),
        ("up_blocks.0.upsamplers.0", ModuleScale.Op),          // a nearest resize (exact) then one convolution
        ("down_blocks.0", ModuleScale.Block),
        ("down_blocks.2", ModuleScale.Block),
        ("mid_block", ModuleScale.Block),
        ("up_blocks.0", ModuleScale.Block),
        ("up_blocks.1", ModuleScale.Block),
        ("up_blocks.2", ModuleScale.Block),
        ("unet", ModuleScale.Model),
    ];

    /// <summary>The catalogue's module names, as theory rows labelled with the whole name (xunit shortens long arguments).</summary>
    public static TheoryData<string> Modules() => RecordedModules.TheoryRows(Catalogue);

    /// <summary>The scale of <paramref name="module"/>.</summary>
    public static ModuleScale ScaleOf(string module) => RecordedModules.ScaleIn(Catalogue, module);

    /// <summary>The backend.</summary>
    public IOps Ops => _r.Ops;

    /// <summary>The whole tiny UNet on the backend.</summary>
    public I2VGenXLUNet Unet { get; }

    /// <summary>Runs <paramref name="module"/> on its recorded inputs: every output it records, ours beside diffusers'.</summary>
    public IReadOnlyList<ModuleOutput> Run(string module)
    {
        var b = _binder;
        return module switch
        {
            "time_proj" => [_r.Output("time_proj::out", Unet.TimeProjection(_r.Raw("time_proj::in.0").ToFloat32Array()))],
            "time_embedding" => [Tokens(module, EmbeddingMlp.TimestepEmbedding(b, module, 32, 128).Forward)],
            "fps_embedding" or "context_embedding" => [Tokens(module, EmbeddingMlp.Sequential(b, module, 32, 128, 128).Forward)],
            "image_latents_context_embedding" => [ImageLatentTokens()],
            "image_latents_proj_in" => [Image(module, Unet.ImageLatentsProjIn)],
            Encoder => [Tokens(module, new I2VGenXLTransformerTemporalEncoder(b, module, 4, 2, 4, 16).Forward)],
            $"{Encoder}.norm1" => [Tokens(module, new LayerNorm(b, module, 4, 1e-5f).Forward)],
            $"{Encoder}.attn1" => [Tokens(module, x => new Attention(b, module, 4, 4, 2, 4).Forward(x))],
            $"{Encoder}.ff" => [Tokens(module, x => new FeedForward(b, module, 4, 16, FeedForwardActivation.Gelu).Forward(x))],
            "conv_in" => [Image(module, x => new Conv2d(b, module, 8, 32, 3).Forward(x))],
            "transformer_in" => [Image(module, x => new TransformerTemporalModel(b, module, 32, 8, 8, 8).Forward(x, Frames(module)), "out.0")],
            "conv_norm_out" => [Image(module, x => new GroupNorm(b, module, 8, 32, 1e-5f).Forward(x))],
            "conv_out" => [Image(module, x => new Conv2d(b, module, 32, 4, 3).Forward(x))],
            $"{Block}.attn1" => [Tokens(module, x => new Attention(b, module, 32, 32, 4, 8).Forward(x))],
            $"{Block}.attn2" => [Tokens(module, x => new Attention(b, module, 32, 32, 4, 8).Forward(x, Context(module)))],
            $"{Block}.ff" => [Tokens(module, x => new FeedForward(b, module, 32, 128, FeedForwardActivation.Geglu).Forward(x))],
            Block => [Tokens(module, x => new BasicTransformerBlock(b, module, 32, 4, 8, 32).Forward(x, Context(module)))],
            Temporal => [Tokens(module, x => new BasicTransformerBlock(b, module, 32, 4, 8, null).Forward(x, null))],
            "down_blocks.0.resnets.0" => [Image(module, x => new ResnetBlock2D(b, module, 32, 32, 128, 8, 1e-5f).Forward(x, Ops.Silu(_r.In($"{module}::in.1"))))],
            "up_blocks.1.resnets.0" => [Image(module, x => new ResnetBlock2D(b, module, 128, 64, 128, 8, 1e-5f).Forward(x, Ops.Silu(_r.In($"{module}::in.1"))))],
            "down_blocks.0.temp_convs.0" => [Image(module, x => new TemporalConvLayer(b, module, 32, 8).Forward(x, Frames(module)))],
            "down_blocks.0.attentions.0" => [Image(module, x => new Transformer2DModel(b, module, 32, 4, 8, 32, 8).Forward(x, Context(module)), "out.0")],
            "down_blocks.0.temp_attentions.0" => [Image(module, x => new TransformerTemporalModel(b, module, 32, 4, 8, 8).Forward(x, Frames(module)), "out.0")],
            "down_blocks.0.downsamplers.0" => [Image(module, new Downsample2D(b, module, 32, Downsample2D.Symmetric).Forward)],
            "up_blocks.0.upsamplers.0" => [Image(module, x => new Upsample2D(b, module, 64).Forward(x))],
            "down_blocks.0" => DownBlock(0, skips: 3),
            "down_blocks.2" => DownBlock(2, skips: 2),
            "mid_block" => [MidBlock()],
            "up_blocks.0" => [UpBlock(0)],
            "up_blocks.1" => [UpBlock(1)],
            "up_blocks.2" => [UpBlock(2)],
            "unet" => [WholeUnet()],
            _ => throw new ArgumentOutOfRangeException(nameof(module), module, "Not a recorded module of unet-tiny."),
        };
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _file.Dispose();
        _weights.Dispose();
    }

    /// <summary>A module on tokens (or other non-image tensors): <c>::in.0</c> to <c>::out</c> as recorded.</summary>
    private ModuleOutput Tokens(string module, Func<Tensor, Tensor> forward) =>
        _r.Output($"{module}::out", forward(_r.In($"{module}::in.0")));

    /// <summary>A module on NCHW images: <c>::in.0</c> to <paramref name="output"/>, channels-last in between.</summary>
    private ModuleOutput Image(string module, Func<Tensor, Tensor> forward, string output = "out") =>
        _r.ImageOutput($"{module}::{output}", forward(_r.Image($"{module}::in.0")));

    private Tensor Context(string module) => _r.In($"{module}::kw.encoder_hidden_states");

    private int Frames(string module) => _r.Frames($"{module}::kw.num_frames");

    /// <summary>The context path's output is an NCHW 8x8 map; ours is its 64 tokens (y, then x).</summary>
    private ModuleOutput ImageLatentTokens()
    {
        const string name = "image_latents_context_embedding::out";
        var tokens = Unet.ImageLatentTokens(_r.Image("image_latents_context_embedding::in.0"));
        var expected = _r.Raw(name).Permute(0, 2, 3, 1).Contiguous().Reshape(2, 64, 32);
        return new ModuleOutput(name, expected, Ops.ToHost(tokens));
    }

    private BlockInputs Inputs(string prefix, bool withContext) => new(
        Ops.Silu(_r.In($"{prefix}::kw.temb")),
        withContext ? Context(prefix) : Ops.Empty(Ops.ActivationDType, new TensorShape(6, 1, 32)),
        Frames(prefix));

    private List<ModuleOutput> DownBlock(int index, int skips)
    {
        var prefix = $"down_blocks.{index}";
        var produced = new List<Tensor>();
        var result = Unet.DownBlocks[index].Forward(_r.Image($"{prefix}::kw.hidden_states"), Inputs(prefix, withContext: index < 2), produced);
        Assert.Equal(skips, produced.Count);
        return [_r.ImageOutput($"{prefix}::out.0", result), .. produced.Select((skip, i) => _r.ImageOutput($"{prefix}::out.1.{i}", skip))];
    }

    private ModuleOutput MidBlock()
    {
        var inputs = new BlockInputs(Ops.Silu(_r.In("mid_block::in.1")), Context("mid_block"), Frames("mid_block"));
        return _r.ImageOutput("mid_block::out", Unet.MidBlock.Forward(_r.Image("mid_block::in.0"), inputs));
    }

    private ModuleOutput UpBlock(int index)
    {
        var prefix = $"up_blocks.{index}";
        var skips = Enumerable.Range(0, 3).Select(i => _r.Image($"{prefix}::kw.res_hidden_states_tuple.{i}")).ToList();
        var result = Unet.UpBlocks[index].Forward(_r.Image($"{prefix}::kw.hidden_states"), Inputs(prefix, withContext: index > 0), skips, null);
        Assert.Empty(skips);
        return _r.ImageOutput($"{prefix}::out", result);
    }

    /// <summary>The whole UNet on the block recording's own inputs (2 videos of 3 frames), compared as (B, C, F, H, W).</summary>
    private ModuleOutput WholeUnet()
    {
        var sample = Ops.NcfhwToNhwc(_r.In("input.blocks.sample"));
        var conditioning = Unet.Condition(
            Ops.NcfhwToNhwc(_r.In("input.blocks.image_latents")), _r.In("input.blocks.image_embeddings"), _r.In("input.blocks.encoder_hidden_states"),
            _r.Raw("input.blocks.fps").ToFloat32Array(), 3);
        var output = Unet.Forward(sample, _r.Raw("input.blocks.timestep").ToFloat32Array()[0], conditioning);
        return _r.Output("output.blocks", Ops.NhwcToNcfhw(output, 3));
    }
}
