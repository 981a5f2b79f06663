using CudaI2V.Kernels.Cpu;
using CudaI2V.Layers.Clip;
using CudaI2V.Layers.Modules;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Layers;

/// <summary>
/// The CLIP vision encoder's pieces on the tiny pipeline's image encoder (weights regenerated from the manifest):
/// embeddings, batch handling, the MLP's activation choice, and its refusal of wrongly shaped pixels. The whole
/// encoder against transformers is <see cref="VerifyImageEncoderTests"/>.
/// </summary>
public sealed class ClipVisionTests
{
    private readonly CpuOps _ops = new();

    private static ClipVisionConfig TinyConfig => ClipVisionConfig.Load(Fixtures.Path("pipeline-tiny", "model", "image_encoder", "config.json"));

    private static WeightSet TinyWeights() => WeightSet.FromTensors(
        "image_encoder",
        FixtureWeights.FromManifest("image_encoder", WeightManifest.Load(Fixtures.Path("pipeline-tiny", "manifests", "image_encoder.json"))));

    /// <summary>The reference file's pixels, channels-last: (2, 32, 32, 3).</summary>
    private Tensor Pixels()
    {
        using var io = SafetensorsFile.Open(Fixtures.Path("pipeline-tiny", "image-encoder-io.safetensors"));
        return _ops.NchwToNhwc(_ops.FromHost(io.GetTensor("pixel_values")));
    }

    [Fact]
    public void Every_image_gets_the_class_token_plus_the_first_position()
    {
        using var weights = TinyWeights();
        var classEmbedding = weights.Take("vision_model.embeddings.class_embedding").ToFloat32Array();
        var positions = weights.Take("vision_model.embeddings.position_embedding.weight").ToFloat32Array();
        var embeddings = new ClipVisionEmbeddings(new WeightBinder(_ops, weights), "vision_model.embeddings", TinyConfig);

        var tokens = embeddings.Forward(Pixels());

        Assert.Equal(new TensorShape(2, 65, 32), tokens.Shape);
        var expected = classEmbedding.Select((v, c) => (double)(v + positions[c])).ToArray();
        for (var b = 0; b < 2; b++)
        {
            Tolerance.Exact.AssertClose(expected, _ops.Copy(tokens.Slice(0, b, 1).Slice(1, 0, 1)), $"token 0 of image {b}");
        }
    }

    [Fact]
    public void A_batch_of_two_equals_each_image_alone()
    {
        using var weights = TinyWeights();
        var model = ClipVisionModelWithProjection.Load(_ops, weights, TinyConfig);
        var pixels = Pixels();

        var both = model.Forward(pixels);

        Assert.Equal(new TensorShape(2, 32), both.ImageEmbeds.Shape);
        Assert.Equal(new TensorShape(2, 65, 32), both.LastHiddenState.Shape);
        for (var b = 0; b < 2; b++)
        {
            var alone = model.Forward(_ops.Copy(pixels.Slice(0, b, 1)));
            Tolerance.Fp32.AssertClose(_ops.Copy(both.ImageEmbeds.Slice(0, b, 1)), alone.ImageEmbeds, $"image_embeds of image {b}");
            Tolerance.Fp32.AssertClose(_ops.Copy(both.LastHiddenState.Slice(0, b, 1)), alone.LastHiddenState, $"last_hidden_state of image {b}");
        }
    }

    [Fact]
    public void The_mlp_applies_the_activation_the_config_names()
    {
        var data = new TestData(61);
        var x = data.Uniform(2, 5, 8);
        var (fc1, fc1Bias, fc2, fc2Bias) = (data.Uniform(16, 8), data.Uniform(16), data.Uniform(8, 16), data.Uniform(8));
        using var weights = WeightSet.FromTensors("mlp", new Dictionary<string, Tensor>
        {
            ["mlp.fc1.weight"] = fc1,
            ["mlp.fc1.bias"] = fc1Bias,
            ["mlp.fc2.weight"] = fc2,
            ["mlp.fc2.bias"] = fc2Bias,
        });
        var binder = new WeightBinder(_ops, weights);
        var quick = new ClipMlp(binder, "mlp", 8, 16, ClipActivation.QuickGelu);
        var exact = new ClipMlp(binder, "mlp", 8, 16, ClipActivation.Gelu);

        var hidden = _ops.Linear(x, fc1, fc1Bias);
        Tolerance.Exact.AssertClose(_ops.Linear(_ops.QuickGelu(hidden), fc2, fc2Bias), quick.Forward(x), "quick_gelu");
        Tolerance.Exact.AssertClose(_ops.Linear(_ops.Gelu(hidden), fc2, fc2Bias), exact.Forward(x), "gelu");
        Assert.NotEqual(quick.Forward(x).ToFloat32Array(), exact.Forward(x).ToFloat32Array());
    }

    [Theory]
    [InlineData(2, 3, 32, 32)]
    [InlineData(2, 32, 32, 4)]
    [InlineData(2, 28, 28, 3)]
    public void Pixels_that_are_not_channels_last_at_the_image_size_are_refused(int n, int h, int w, int c)
    {
        using var weights = TinyWeights();
        var model = ClipVisionModelWithProjection.Load(_ops, weights, TinyConfig);

        var e = Assert.Throws<ArgumentException>(() => model.Forward(Tensor.Zeros(DType.F32, new TensorShape(n, h, w, c))));

        Assert.Contains("(B, 32, 32, 3)", e.Message, StringComparison.Ordinal);
        Assert.Contains($"[{n}, {h}, {w}, {c}]", e.Message, StringComparison.Ordinal);
    }
}
