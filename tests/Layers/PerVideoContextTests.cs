using CudaI2V.Kernels.Cpu;
using CudaI2V.Layers.Modules;
using CudaI2V.Layers.UNet;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Layers;

/// <summary>
/// The cross-attention context and its keys and values are kept once per video, (B, tokens, ...), not once per frame:
/// every frame of a video reads its video's row, which gives bit for bit the output of the context repeated per frame
/// (diffusers' repeat_interleave), also with the spatial layers chunked inside a video or over whole videos, and one
/// video of a batch alone.
/// </summary>
public sealed class PerVideoContextTests : IDisposable
{
    private const int Videos = 2;
    private const int Frames = 3;

    private readonly CpuOps _ops = new();
    private readonly I2VGenXLUNet _unet;
    private readonly UNetConfig _config;
    private readonly Tensor _sample = FixtureWeights.Input("video-context.sample", new TensorShape(Videos * Frames, 6, 8, 4));
    private readonly UNetConditioning _conditioning;
    private readonly WeightSet _weights;

    public PerVideoContextTests()
    {
        _config = UNetConfig.Load(Fixtures.Path("unet-tiny", "model", "config.json"));
        _weights = WeightSet.Open("unet", [Path.Combine(Fixtures.ComponentModel("unet-tiny"), "diffusion_pytorch_model.safetensors")]);
        _unet = I2VGenXLUNet.Load(_ops, _weights, _config);
        _conditioning = _unet.Condition(
            FixtureWeights.Input("video-context.latents", new TensorShape(Videos * Frames, 6, 8, 4)),
            FixtureWeights.Input("video-context.embeds", new TensorShape(Videos, 1, 32)),
            FixtureWeights.Input("video-context.text", new TensorShape(Videos, 77, 32)),
            [16f, 16f],
            Frames);
    }

    public void Dispose() => _weights.Dispose();

    [Fact]
    public void The_context_and_its_keys_and_values_have_one_row_per_video()
    {
        var tokens = 77 + 64 + _config.InChannels;
        Assert.Equal(new TensorShape(Videos, tokens, _config.CrossAttentionDim), _conditioning.Context.Shape);
        var cache = _conditioning.CrossKeyValues!;
        Assert.Equal(_unet.SpatialTransformers.Count(), cache.Count);
        foreach (var transformer in _unet.SpatialTransformers)
        {
            Assert.True(cache.TryGet(transformer.Block.CrossAttention, out var kv));
            var inner = kv.K.Shape[2];
            Assert.Equal(new TensorShape(Videos, tokens, inner), kv.K.Shape);
            Assert.Equal(kv.K.Shape, kv.V.Shape);
        }

        // Video(1): row 1 of the per-video tensors, frame rows 3-5 of the image stream.
        var second = _conditioning.Video(1);
        Assert.Equal(_conditioning.Context.Slice(0, 1, 1).ByteOffset, second.Context.ByteOffset);
        Assert.Equal(1, second.Context.Shape[0]);
        Assert.Equal(new TensorShape(Frames, 6, 8, 4), second.ImageStream.Shape);
        Assert.All(second.CrossKeyValues!.Tensors, t => Assert.Equal(1, t.Shape[0]));
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(4)] // whole videos: 3 + 3
    [InlineData(2)] // inside each video: 2 + 1, 2 + 1
    [InlineData(1)]
    public void Per_video_keys_and_values_give_the_per_frame_output_bit_for_bit(int spatialImages)
    {
        // The former scheme: the context repeated per frame, (B*F, tokens, cross), projected per frame row.
        var perFrame = _conditioning with { Context = _unet.RepeatInterleave(_conditioning.Context, Frames), CrossKeyValues = null };
        var expected = _unet.Forward(_sample, 500, perFrame).ToFloat32Array();

        _unet.Chunking.SpatialImages = spatialImages;
        try
        {
            Assert.Equal(expected, _unet.Forward(_sample, 500, _conditioning).ToFloat32Array());
            Assert.Equal(expected, _unet.Forward(_sample, 500, _conditioning with { CrossKeyValues = null }).ToFloat32Array());

            // One video alone reads its own row.
            var second = _unet.Forward(_sample.Slice(0, Frames, Frames), 500, _conditioning.Video(1)).ToFloat32Array();
            Assert.Equal(expected[(expected.Length / 2)..], second);
        }
        finally
        {
            _unet.Chunking.SpatialImages = int.MaxValue;
        }
    }

    [Fact]
    public void Chunks_of_grouped_rows_are_whole_groups_or_lie_in_one_group()
    {
        List<(int Start, int Count)> Chunks(int rows, int chunk, int group)
        {
            var chunks = new List<(int, int)>();
            LayerChunking.ByGroups(_ops, rows, chunk, group, (start, count) =>
            {
                chunks.Add((start, count));
                return Tensor.Zeros(DType.F32, new TensorShape(count, 1));
            });
            return chunks;
        }

        Assert.Equal(new[] { (0, 12) }, Chunks(12, 12, 4));
        Assert.Equal(new[] { (0, 8), (8, 4) }, Chunks(12, 9, 4));
        Assert.Equal(new[] { (0, 3), (3, 1), (4, 3), (7, 1), (8, 3), (11, 1) }, Chunks(12, 3, 4));
        Assert.Equal(new[] { (0, 5), (5, 5), (10, 2) }, Chunks(12, 5, 1));
        Assert.Contains("12 rows do not split into groups of 5", Assert.Throws<ArgumentException>(() => Chunks(12, 3, 5)).Message, StringComparison.Ordinal);
    }
}
