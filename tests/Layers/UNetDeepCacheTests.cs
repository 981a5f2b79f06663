using CudaI2V.Kernels.Cpu;
using CudaI2V.Kernels.Planning;
using CudaI2V.Layers.UNet;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Layers;

/// <summary>
/// Step caching in the UNet (DeepCache) on the tiny pipeline's UNet with generated weights, on the CPU: a full step that
/// stores the deep feature gives the plain forward's output bit for bit, a cached step on the same input gives it too
/// (so the shallow branch and the cache are wired exactly), a recording backend shows that a cached step reads no weight
/// of the deep blocks, and the counted FLOPs of a cached step are the full step's less exactly what the skipped blocks
/// count.
/// </summary>
public sealed class UNetDeepCacheTests
{
    private const int Frames = 2;

    private static readonly WeightManifest Manifest = WeightManifest.Load(Fixtures.Path("pipeline-tiny", "manifests", "unet.json"));

    private static readonly UNetConfig Config = UNetConfig.Load(Fixtures.Path("pipeline-tiny", "model", "unet", "config.json"));

    [Theory]
    [InlineData(8, 8)]
    [InlineData(6, 10)] // not a multiple of 4: the up blocks take explicit sizes and the cache rounds each halving up
    public void Full_and_cached_steps_equal_the_plain_forward_bit_for_bit_at_every_depth(int height, int width)
    {
        var (ops, unet) = Load();
        var (sample, embedding, conditioning) = Inputs(ops, unet, height, width);
        var plain = ops.ToHost(unet.Forward(sample, embedding, conditioning)).ToFloat32Array();
        for (var depth = 0; depth < unet.Levels; depth++)
        {
            var buffer = ops.Empty(ops.ActivationDType, unet.DeepFeatureShape(sample.Shape, depth));
            var full = ops.ToHost(unet.Forward(sample, embedding, conditioning, new DeepFeature(depth, buffer, Reuse: false))).ToFloat32Array();
            Assert.True(plain.AsSpan().SequenceEqual(full), $"depth {depth}: the full step");
            var cached = ops.ToHost(unet.Forward(sample, embedding, conditioning, new DeepFeature(depth, buffer, Reuse: true))).ToFloat32Array();
            Assert.True(plain.AsSpan().SequenceEqual(cached), $"depth {depth}: the cached step on the same input");
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => unet.DeepFeatureShape(sample.Shape, unet.Levels));
    }

    [Fact]
    public void A_cached_step_reads_no_weight_of_the_deep_blocks()
    {
        var (ops, unet) = Load();
        var (sample, embedding, conditioning) = Inputs(ops, unet, 8, 8);
        var levels = unet.Levels;
        for (var depth = 0; depth < levels; depth++)
        {
            var shallow = levels - depth;
            string[] deep =
            [
                .. Enumerable.Range(shallow, levels - shallow).Select(j => $"down_blocks.{j}."),
                .. shallow < levels ? [$"down_blocks.{shallow - 1}.downsamplers."] : Array.Empty<string>(),
                "mid_block.",
                .. Enumerable.Range(0, depth).Select(k => $"up_blocks.{k}."),
            ];
            var buffer = ops.Empty(ops.ActivationDType, unet.DeepFeatureShape(sample.Shape, depth));

            ops.Read.Clear();
            unet.Forward(sample, embedding, conditioning, new DeepFeature(depth, buffer, Reuse: false));
            Assert.All(deep, prefix => Assert.Contains(ops.Read, key => key.StartsWith(prefix, StringComparison.Ordinal)));

            ops.Read.Clear();
            unet.Forward(sample, embedding, conditioning, new DeepFeature(depth, buffer, Reuse: true));
            Assert.DoesNotContain(ops.Read, key => deep.Any(prefix => key.StartsWith(prefix, StringComparison.Ordinal)));
            string[] shallowParts = ["conv_in.", "transformer_in.", "down_blocks.0.resnets.", $"up_blocks.{levels - 1}.", "conv_out."];
            Assert.All(shallowParts, prefix => Assert.Contains(ops.Read, key => key.StartsWith(prefix, StringComparison.Ordinal)));
        }
    }

    [Fact]
    public void A_cached_step_counts_the_full_step_less_the_skipped_blocks()
    {
        var planning = new PlanningOps(DType.F32);
        var weights = WeightSet.Generated("unet", Manifest.Entries, e => PlanningOps.ShapeOnly(e.DType, e.Shape));
        var unet = I2VGenXLUNet.Load(planning, weights, Config);
        var (sample, embedding, conditioning) = Inputs(planning, unet, 8, 8);
        var inputs = new BlockInputs(embedding, conditioning.Context, Frames, conditioning.CrossKeyValues);
        double Flops(Action run)
        {
            planning.BeginRecording();
            run();
            return planning.Flops;
        }

        var plain = Flops(() => unet.Forward(sample, embedding, conditioning));
        for (var depth = 0; depth < unet.Levels; depth++)
        {
            var buffer = planning.Empty(DType.F32, unet.DeepFeatureShape(sample.Shape, depth));
            var full = Flops(() => unet.Forward(sample, embedding, conditioning, new DeepFeature(depth, buffer, false)));
            var cached = Flops(() => unet.Forward(sample, embedding, conditioning, new DeepFeature(depth, buffer, true)));
            Assert.Equal(plain, full);

            // The skipped blocks on their own: the last shallow down block's downsampler (the block less its layers), the
            // deeper down blocks, the mid block and the up blocks before the depth.
            var shallow = unet.Levels - depth;
            var level = shallow - 1;
            var input = planning.Empty(DType.F32, LevelInput(sample.Shape, level));
            var withDownsampler = Flops(() =>
            {
                var skips = new List<Tensor>();
                var x = unet.DownBlocks[level].Forward(input, inputs, skips);
                for (var j = shallow; j < unet.Levels; j++)
                {
                    x = unet.DownBlocks[j].Forward(x, inputs, skips);
                }

                x = unet.MidBlock.Forward(x, inputs);
                for (var k = 0; k < depth; k++)
                {
                    x = unet.UpBlocks[k].Forward(x, inputs, skips, null);
                }
            });
            var layers = Flops(() =>
            {
                var x = input;
                foreach (var layer in unet.DownBlocks[level].Layers)
                {
                    x = layer.Forward(x, inputs);
                }
            });
            var skipped = withDownsampler - layers;
            Assert.True(skipped > 0 && cached < full, $"depth {depth}");
            Assert.Equal(full - skipped, cached, full * 1e-12);
        }
    }

    /// <summary>The tiny UNet with generated weights on a recording CPU backend.</summary>
    private static (WeightReadingOps Ops, I2VGenXLUNet Unet) Load()
    {
        var ops = new WeightReadingOps(new CpuOps());
        var data = new TestData(16);
        var weights = WeightSet.Generated("unet", Manifest.Entries, e =>
        {
            ops.Uploading = e.Key;
            return Tensor.FromSpan<float>(data.Floats((int)e.Shape.ElementCount, 0.2f), e.Shape);
        });
        return (ops, I2VGenXLUNet.Load(ops, weights, Config));
    }

    private static (Tensor Sample, Tensor Embedding, UNetConditioning Conditioning) Inputs(global::CudaI2V.Kernels.IOps ops, I2VGenXLUNet unet, int height, int width)
    {
        var data = new TestData(3);
        int inC = Config.InChannels, cross = Config.CrossAttentionDim;
        var conditioning = unet.Condition(
            ops.FromHost(data.Uniform(Frames, height, width, inC)), ops.FromHost(data.Uniform(1, 1, cross)), ops.FromHost(data.Uniform(1, 5, cross)), [16f], Frames);
        var sample = ops.FromHost(data.Uniform(Frames, height, width, inC));
        return (sample, unet.StepEmbedding(301f, conditioning), conditioning);
    }

    /// <summary>The input of down block <paramref name="level"/>: the previous level's channels at this level's size.</summary>
    private static TensorShape LevelInput(TensorShape sample, int level)
    {
        int h = sample[1], w = sample[2];
        for (var i = 0; i < level; i++)
        {
            (h, w) = ((h + 1) / 2, (w + 1) / 2);
        }

        var channels = Config.BlockOutChannels;
        return new TensorShape(sample[0], h, w, level == 0 ? channels[0] : channels[level - 1]);
    }
}
