using CudaI2V.Kernels;
using CudaI2V.Kernels.Cpu;
using CudaI2V.Kernels.Planning;
using CudaI2V.Pipeline.Scheduling;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Scheduling;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Kernels;

/// <summary>
/// The scheduler's ops on the CPU backend: the fused guidance + DDIM step against diffusers' two stages (guidance,
/// then <see cref="DDIMScheduler.Step(Tensor, int, Tensor, float, CudaI2V.Pipeline.Noise.SeededRandom?, Tensor?)"/>), and the non-finite count.
/// </summary>
public sealed class SchedulingOpsTests
{
    private const float Guidance = 9f;
    private readonly CpuOps _ops = new();

    public static TheoryData<string, bool, bool, float> Cases() => new()
    {
        { "v_prediction", true, false, 0f },
        { "epsilon", true, true, 0f },
        { "sample", false, true, 0.7f },
        { "v_prediction", true, true, 1f },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_guided_step_equals_guidance_then_the_scheduler_bit_for_bit(string prediction, bool guided, bool clip, float eta)
    {
        var clipText = clip ? "true" : "false";
        var config = SchedulerFixtures.FromJson($$"""{"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "prediction_type": "{{prediction}}", "clip_sample": {{clipText}}, "clip_sample_range": 1.0, "rescale_betas_zero_snr": true, "timestep_spacing": "leading", "steps_offset": 1}""").Config;
        var scheduler = new DDIMScheduler(config);
        scheduler.SetTimesteps(50);
        var shape = new TensorShape(3, 5, 7, 4);
        var expected = Tensor.FromSpan<float>(new TestData(1).Floats((int)shape.ElementCount, scale: 2f), shape);
        var latents = expected.To(DType.F32);
        var outputShape = new TensorShape(guided ? 6 : 3, 5, 7, 4);
        var output = Tensor.FromSpan<float>(new TestData(2).Floats((int)outputShape.ElementCount, scale: 1.5f), outputShape);
        var noise = eta > 0 ? Tensor.FromSpan<float>(new TestData(3).Floats((int)shape.ElementCount), shape) : null;
        var next = Tensor.Zeros(DType.F32, outputShape);

        foreach (var t in new[] { scheduler.Timesteps[0], scheduler.Timesteps[25], scheduler.Timesteps[^1] })
        {
            _ops.DdimStep(output, latents, scheduler.StepSettings(t, eta, guided ? Guidance : null), noise, next);
            expected = scheduler.Step(guided ? GuidanceReference.Guide(output, Guidance) : output, t, expected, eta, varianceNoise: noise);

            Assert.Equal(Bits(expected), Bits(latents));
            var copies = next.ToFloat32Array();
            Assert.Equal(Bits(expected), Bits(copies[..(int)shape.ElementCount]));
            if (guided)
            {
                Assert.Equal(Bits(expected), Bits(copies[(int)shape.ElementCount..]));
            }
        }
    }

    [Fact]
    public void The_step_refuses_tensors_that_do_not_fit()
    {
        var settings = new DdimStepSettings(DdimPrediction.VPrediction, new DdimCoefficients(0.5f, 0.8660254f, 0.6f, 0.8f, 0f), Guidance);
        var latents = Tensor.Zeros(DType.F32, new TensorShape(2, 3, 3, 4));
        var output = Tensor.Zeros(DType.F32, new TensorShape(4, 3, 3, 4));

        Assert.Contains("modelOutput must be F32 [4, 3, 3, 4], got F32 [2, 3, 3, 4]", Refusal(() => _ops.DdimStep(latents, latents, settings)), StringComparison.Ordinal);
        Assert.Contains("latents must be F32 of rank 1 or more", Refusal(() => _ops.DdimStep(output, latents.To(DType.F16), settings)), StringComparison.Ordinal);
        Assert.Contains("noise must be F32 [2, 3, 3, 4], got F32 [4, 3, 3, 4]", Refusal(() => _ops.DdimStep(output, latents, settings, noise: output)), StringComparison.Ordinal);
        Assert.Contains("nextInput must be F32 [2, 3, 3, 4], got F32 [3, 3, 3, 4]", Refusal(() => _ops.DdimStep(output, latents, settings, nextInput: Tensor.Zeros(DType.F32, new TensorShape(3, 3, 3, 4)))), StringComparison.Ordinal);
    }

    [Fact]
    public void The_count_finds_every_nan_and_infinity()
    {
        var values = new TestData(4).Floats(300);
        values[0] = float.NaN;
        values[150] = float.PositiveInfinity;
        values[299] = float.NegativeInfinity;
        values[7] = float.MaxValue;

        Assert.Equal(3L, _ops.CountNonFinite(Tensor.FromSpan<float>(values, new TensorShape(3, 100))));
        Assert.Equal(0L, _ops.CountNonFinite(Tensor.Zeros(DType.F32, new TensorShape(0, 4))));
    }

    [Fact]
    public void Planning_a_step_allocates_nothing()
    {
        var planning = new PlanningOps();
        var latents = planning.FromHost(Tensor.Zeros(DType.F32, new TensorShape(2, 3, 3, 4)), DType.F32);
        var output = planning.Empty(DType.F16, new TensorShape(4, 3, 3, 4));
        var next = planning.Empty(DType.F16, new TensorShape(4, 3, 3, 4));
        var before = planning.TensorCount;

        planning.DdimStep(output, latents, new DdimStepSettings(DdimPrediction.Epsilon, new DdimCoefficients(1f, 0f, 1f, 0f, 0f), Guidance), nextInput: next);

        Assert.Equal(DType.F32, latents.DType);
        Assert.Equal(before, planning.TensorCount);
        Assert.Equal(0L, planning.CountNonFinite(output));
    }

    private static uint[] Bits(Tensor t) => Bits(t.ToFloat32Array());

    private static uint[] Bits(float[] values) => [.. values.Select(BitConverter.SingleToUInt32Bits)];

    private static string Refusal(Action action) => Assert.Throws<ArgumentException>(action).Message;
}
