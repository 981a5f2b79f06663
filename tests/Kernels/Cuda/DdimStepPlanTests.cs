using CudaI2V.Kernels;
using CudaI2V.Kernels.Cuda;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda;

/// <summary>
/// The DDIM + guidance launcher planned against fake device storage: guided and unguided model outputs, the optional
/// noise and copy (repeated along axis 0), the prediction types and clamp, and the refusals.
/// </summary>
public sealed class DdimStepPlanTests
{
    private static readonly DdimCoefficients Coefficients = new(0.9f, 0.43588989f, 0.95f, 0.31224990f, 0.125f);

    [Theory]
    [InlineData(DType.F32, "ddim_step_f32")]
    [InlineData(DType.F16, "ddim_step_f16")]
    [InlineData(DType.BF16, "ddim_step_bf16")]
    public void A_guided_step_reads_both_halves_and_writes_the_next_input_twice(DType dtype, string entry)
    {
        var device = new FakeDevice();
        var output = device.Make(dtype, 6, 5, 7, 4); // [unconditional ; conditional] of 3 frames
        var latents = device.Make(DType.F32, 3, 5, 7, 4);
        var noise = device.Make(DType.F32, 3, 5, 7, 4);
        var copy = device.Make(dtype, 6, 5, 7, 4);

        var launch = DdimStepKernel.Plan(output, latents, Coefficients, DdimPrediction.VPrediction, guidance: 9f, clipRange: 1.5f, noise, copy)!.Value;

        Assert.Equal(entry, launch.Entry);
        var p = launch.Params;
        Assert.Equal((FakeDevice.Address(0), FakeDevice.Address(1), FakeDevice.Address(2), FakeDevice.Address(3)), (p.ModelOutput, p.Latents, p.Noise, p.Copy));
        Assert.Equal((420L, 2, 1, 1, 1), (p.Count, p.Copies, p.Guided, p.Prediction, p.Clip));
        Assert.Equal((9f, 1.5f), (p.Guidance, p.ClipRange));
        Assert.Equal(Coefficients, new DdimCoefficients(p.SqrtAlphaProdT, p.SqrtBetaProdT, p.SqrtAlphaProdTPrev, p.DirectionCoefficient, p.StdDevT));
        Assert.Equal(new Dim3(2), launch.Config.Grid);
    }

    [Theory]
    [InlineData(DdimPrediction.Epsilon, 0)]
    [InlineData(DdimPrediction.VPrediction, 1)]
    [InlineData(DdimPrediction.Sample, 2)]
    public void An_unguided_step_without_noise_or_copy_leaves_their_addresses_zero(DdimPrediction prediction, int code)
    {
        var device = new FakeDevice();
        var output = device.Make(DType.F16, 2, 3, 4);
        var latents = device.Make(DType.F32, 2, 3, 4);

        var p = DdimStepKernel.Plan(output, latents, Coefficients, prediction, guidance: null)!.Value.Params;

        Assert.Equal((0, code, 0, 0UL, 0UL, 0), (p.Guided, p.Prediction, p.Clip, p.Noise, p.Copy, p.Copies));
        Assert.Null(DdimStepKernel.Plan(device.Make(DType.F16, 0, 3), device.Make(DType.F32, 0, 3), Coefficients, prediction, null));
    }

    [Fact]
    public void A_copy_of_the_latents_shape_is_written_once()
    {
        var device = new FakeDevice();
        var p = DdimStepKernel.Plan(device.Make(DType.BF16, 4, 2, 2, 4), device.Make(DType.F32, 2, 2, 2, 4), Coefficients, DdimPrediction.Epsilon, 2f, copy: device.Make(DType.BF16, 2, 2, 2, 4))!.Value.Params;
        Assert.Equal(1, p.Copies);
    }

    [Fact]
    public void The_step_refuses_what_does_not_fit_showing_the_shapes()
    {
        var device = new FakeDevice();
        var output = device.Make(DType.F16, 4, 3, 3, 4);
        var latents = device.Make(DType.F32, 2, 3, 3, 4);

        string Refusal(Action plan) => Assert.ThrowsAny<ArgumentException>(plan).Message;

        Assert.Contains("latents must be F32 of rank 1 or more, got F16 [2, 3, 3, 4]", Refusal(() => DdimStepKernel.Plan(output, device.Make(DType.F16, 2, 3, 3, 4), Coefficients, DdimPrediction.VPrediction, 9f)), StringComparison.Ordinal);
        Assert.Contains("modelOutput must be F16 [2, 3, 3, 4], got F16 [4, 3, 3, 4]", Refusal(() => DdimStepKernel.Plan(output, latents, Coefficients, DdimPrediction.VPrediction, guidance: null)), StringComparison.Ordinal);
        Assert.Contains("modelOutput must be F16 [4, 3, 3, 4], got F16 [2, 3, 3, 4]", Refusal(() => DdimStepKernel.Plan(device.Make(DType.F16, 2, 3, 3, 4), latents, Coefficients, DdimPrediction.VPrediction, 9f)), StringComparison.Ordinal);
        Assert.Contains("noise must be F32 [2, 3, 3, 4], got F16 [2, 3, 3, 4]", Refusal(() => DdimStepKernel.Plan(output, latents, Coefficients, DdimPrediction.VPrediction, 9f, noise: device.Make(DType.F16, 2, 3, 3, 4))), StringComparison.Ordinal);
        Assert.Contains("copy must be F16 [4, 3, 3, 4], got BF16 [4, 3, 3, 4]", Refusal(() => DdimStepKernel.Plan(output, latents, Coefficients, DdimPrediction.VPrediction, 9f, copy: device.Make(DType.BF16, 4, 3, 3, 4))), StringComparison.Ordinal);
        Assert.Contains("copy must be F16 [2, 3, 3, 4], got F16 [3, 3, 3, 4]", Refusal(() => DdimStepKernel.Plan(output, latents, Coefficients, DdimPrediction.VPrediction, 9f, copy: device.Make(DType.F16, 3, 3, 3, 4))), StringComparison.Ordinal);
        Assert.Contains("copy must be F16 [2, 3, 3, 4], got F16 [2, 36]", Refusal(() => DdimStepKernel.Plan(output, latents, Coefficients, DdimPrediction.VPrediction, 9f, copy: device.Make(DType.F16, 2, 36))), StringComparison.Ordinal);
        Assert.Contains("overlap in memory", Refusal(() => DdimStepKernel.Plan(output, latents, Coefficients, DdimPrediction.VPrediction, 9f, copy: output)), StringComparison.Ordinal);
        Assert.Contains("overlap in memory", Refusal(() => DdimStepKernel.Plan(latents, latents, Coefficients, DdimPrediction.VPrediction, null)), StringComparison.Ordinal);
        Assert.Contains("I32", Refusal(() => DdimStepKernel.Plan(device.Make(DType.I32, 2, 3, 3, 4), latents, Coefficients, DdimPrediction.VPrediction, null)), StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => DdimStepKernel.Plan(output, latents, Coefficients, (DdimPrediction)3, 9f));
    }
}
