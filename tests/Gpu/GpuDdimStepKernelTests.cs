using CudaI2V.Kernels;
using CudaI2V.Kernels.Cuda;
using CudaI2V.Pipeline.Scheduling;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Scheduling;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Gpu;

/// <summary>
/// The fused guidance + DDIM kernel on a real GPU against diffusers' guidance (computed here) and the host
/// DDIMScheduler.Step on the same values: the fp32 latents must be equal bit for bit, and the copy for the next UNet
/// input must be their rounding (skipped without a GPU).
/// </summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuDdimStepKernelTests
{
    public static TheoryData<string, DType, bool, bool, float> Cases()
    {
        var data = new TheoryData<string, DType, bool, bool, float>();
        foreach (var prediction in new[] { "v_prediction", "epsilon", "sample" })
        {
            foreach (var dtype in new[] { DType.F32, DType.F16, DType.BF16 })
            {
                data.Add(prediction, dtype, true, false, 0f);  // guided, as the release pipeline runs
                data.Add(prediction, dtype, false, true, 0f);  // a batch of one, clip_sample on
                data.Add(prediction, dtype, true, true, 0.7f); // eta > 0: noise added
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_step_equals_the_host_scheduler_bit_for_bit(string prediction, DType dtype, bool guided, bool clip, float eta)
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var clipText = clip ? "true" : "false";
        var config = SchedulerFixtures.FromJson($$"""{"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "prediction_type": "{{prediction}}", "clip_sample": {{clipText}}, "clip_sample_range": 1.0, "timestep_spacing": "leading", "steps_offset": 1, "rescale_betas_zero_snr": true}""").Config;
        var scheduler = new DDIMScheduler(config);
        scheduler.SetTimesteps(50);
        const int Frames = 3;
        const float Guidance = 9f;
        int[] dims = [Frames, 5, 7, 4];
        int[] outputDims = [guided ? 2 * Frames : Frames, 5, 7, 4];
        var latents = GpuOpCheck.Uniform(90, 2f, 0f, dims);
        var output = GpuOpCheck.Rounded(GpuOpCheck.Uniform(91, 1.5f, 0.1f, outputDims), dtype);
        var noise = eta > 0 ? GpuOpCheck.Uniform(92, 1.7f, 0f, dims) : null;
        var deviceLatents = scratch.Upload(latents);
        var deviceOutput = GpuOpCheck.Upload(scratch, output, dtype);
        var deviceNoise = noise is null ? null : scratch.Upload(noise);
        var copy = GpuOpCheck.Poisoned(gpu, scratch, dtype, outputDims);

        foreach (var t in new[] { scheduler.Timesteps[0], scheduler.Timesteps[25], scheduler.Timesteps[^1] })
        {
            var step = scheduler.StepSettings(t, eta, guided ? Guidance : null);
            DdimStepKernel.Run(gpu.Kernels, gpu.Stream, deviceOutput, deviceLatents, step.Coefficients, step.Prediction, step.Guidance, step.ClipRange, deviceNoise, copy);

            var prediction0 = guided ? GuidanceReference.Guide(output, Guidance) : output;
            latents = scheduler.Step(prediction0, t, latents, eta, varianceNoise: noise);
            var actual = scratch.Floats(deviceLatents);
            var expected = latents.ToFloat32Array();
            for (var i = 0; i < expected.Length; i++)
            {
                Assert.True(
                    BitConverter.SingleToUInt32Bits(expected[i]) == BitConverter.SingleToUInt32Bits(actual[i]),
                    $"t={t} element {i}: GPU {actual[i]:R}, host {expected[i]:R}");
            }

            var rounded = latents.To(dtype).AsBytes().ToArray();
            var copies = scratch.Download(copy).AsBytes().ToArray();
            Assert.Equal(rounded, copies[..rounded.Length]);
            Assert.Equal(guided ? rounded : Array.Empty<byte>(), copies[rounded.Length..]); // the second half of a guided input too
        }
    }

    [Fact]
    public void Non_finite_model_output_reaches_the_latents_and_the_count_sees_it()
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var values = GpuOpCheck.Uniform(93, 1f, 0f, 2, 2, 3, 4).ToFloat32Array();
        values[30] = float.PositiveInfinity; // the conditional half of element 6
        var output = GpuOpCheck.Upload(scratch, Tensor.FromSpan<float>(values, new TensorShape(2, 2, 3, 4)), DType.F16);
        var latents = scratch.Upload(GpuOpCheck.Uniform(94, 1f, 0f, 1, 2, 3, 4));
        var counter = scratch.Empty(DType.I64, 1);

        DdimStepKernel.Run(gpu.Kernels, gpu.Stream, output, latents, new DdimCoefficients(0.5f, 0.8660254f, 0.6f, 0.8f, 0f), DdimPrediction.VPrediction, 9f);
        NonFiniteKernel.Run(gpu.Kernels, gpu.Stream, latents, counter);

        Assert.Equal(1L, scratch.Download(counter).AsSpan<long>()[0]);
        Assert.False(float.IsFinite(scratch.Floats(latents)[6]));
    }
}
