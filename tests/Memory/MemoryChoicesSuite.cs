using CudaI2V.Kernels;
using CudaI2V.Kernels.Cpu;
using CudaI2V.Kernels.Cuda.Backend;
using CudaI2V.Layers.UNet;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Memory;

/// <summary>
/// The memory choices of a UNet step are exact: the guided batch run one video at a time (each with its own graph),
/// the feed-forward in small chunks of tokens and the per-frame spatial layers (with the temporal transformers' sequences)
/// in chunks of frames give what one batched, unchunked step gives, on unet-tiny and on unet-odd
/// (four levels, odd latent sizes that need explicit upsample sizes). Bit for bit on the CPU.
/// </summary>
public abstract class MemoryChoicesSuite
{
    private protected abstract IOps NewOps();

    /// <summary>The largest max_rel a split or chunked step may differ from the batched one by (0: bit for bit).</summary>
    private protected abstract double Bar { get; }

    [Theory]
    [InlineData("unet-tiny", 20, 28, false, 4096, int.MaxValue)]
    [InlineData("unet-tiny", 20, 28, true, long.MaxValue, int.MaxValue)]
    [InlineData("unet-tiny", 20, 28, true, 4096, int.MaxValue)]
    [InlineData("unet-odd", 13, 18, true, 1000, int.MaxValue)]
    [InlineData("unet-tiny", 20, 28, false, long.MaxValue, 2)]
    [InlineData("unet-tiny", 20, 28, true, 4096, 1)]
    [InlineData("unet-odd", 13, 18, false, long.MaxValue, 4)]
    [InlineData("unet-odd", 13, 18, true, 1000, 2)]
    public void A_split_or_chunked_step_gives_the_batched_steps_values(string fixture, int height, int width, bool split, long feedForwardBytes, int spatialImages)
    {
        var ops = NewOps();
        try
        {
            var folder = Fixtures.ComponentModel(fixture);
            var config = UNetConfig.Load(Path.Combine(folder, "config.json"));
            using var weights = WeightSet.Open("unet", [Path.Combine(folder, "diffusion_pytorch_model.safetensors")]);
            var unet = I2VGenXLUNet.Load(ops, weights, config);
            const int Frames = 3;
            var sample = ops.FromHost(FixtureWeights.Input("choices.sample", new TensorShape(2 * Frames, height, width, 4)));
            var conditioning = unet.Condition(
                ops.FromHost(FixtureWeights.Input("choices.latents", new TensorShape(2 * Frames, height, width, 4))),
                ops.FromHost(FixtureWeights.Input("choices.embeds", new TensorShape(2, 1, 32))),
                ops.FromHost(FixtureWeights.Input("choices.text", new TensorShape(2, 77, 32))),
                [16f, 16f],
                Frames);
            UNetStepPlan Plan(bool split, long bytes, int spatial)
            {
                var videos = split ? 1 : 2;
                return PlannedUNetStep.PlanStep(
                    ops.ActivationDType, config, weights.Layout(), new TensorShape(videos * Frames, height, width, 4), new TensorShape(videos, 1, 32),
                    new TensorShape(videos, 77, 32), Frames, runs: 2 / videos, bytes, spatial);
            }

            var plan = Plan(split, feedForwardBytes, spatialImages);
            var batchedPlan = Plan(false, long.MaxValue, int.MaxValue);
            Assert.True(plan.Arena.Peak < batchedPlan.Arena.Peak, $"{plan.Arena.Peak} should be below {batchedPlan.Arena.Peak}");
            using var batched = PlannedUNetStep.Create(ops, batchedPlan, graphs: false, reserve: 0);
            using var chosen = PlannedUNetStep.Create(ops, plan, graphs: true, reserve: 0);
            foreach (var t in new[] { 981f, 501f, 21f })
            {
                var embedding = unet.StepEmbedding(t, conditioning);
                var expected = ops.ToHost(batched.Forward(unet, sample, embedding, conditioning)).ToFloat32Array();
                var actual = ops.ToHost(chosen.Forward(unet, sample, embedding, conditioning)).ToFloat32Array();
                if (Bar == 0)
                {
                    Assert.Equal(expected, actual);
                }
                else
                {
                    var result = TensorComparison.Compare(actual, expected);
                    Assert.True(result.MaxRel <= Bar, $"t={t}: {result}");
                }
            }
        }
        finally
        {
            (ops as IDisposable)?.Dispose();
        }
    }
}

/// <summary>The suite on the CPU reference: bit for bit.</summary>
public sealed class CpuMemoryChoicesTests : MemoryChoicesSuite
{
    private protected override IOps NewOps() => new CpuOps();

    private protected override double Bar => 0;
}

/// <summary>The suite on the GPU in fp16: within the planned-forward bar (issue 8's model bar; other GEMM shapes, same kernels).</summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuMemoryChoicesTests : MemoryChoicesSuite
{
    private protected override IOps NewOps() => new CudaOps(GpuProbe.Require().Context);

    private protected override double Bar => 1e-3;
}
