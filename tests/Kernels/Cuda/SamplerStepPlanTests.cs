using System.Runtime.CompilerServices;
using CudaI2V.Kernels;
using CudaI2V.Kernels.Cuda;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda;

/// <summary>
/// The sampler step's two launches planned against fake device storage: the parameters each carries (addresses,
/// flags, every weight), the entry point per dtype, absent tensors as address 0, and the refusals.
/// </summary>
public sealed class SamplerStepPlanTests
{
    private static readonly SamplerCombination Corrected = new(
        new SamplerWeights(0.5f, 0.25f, 0.125f, 0.0625f), new SamplerWeights(0.9f, -0.1f, 0.2f, -0.3f), 0.75f);

    [Fact]
    public void The_params_structs_are_the_sizes_the_cuda_source_asserts()
    {
        Assert.Equal(48, Unsafe.SizeOf<SamplerPredictParams>());
        Assert.Equal(104, Unsafe.SizeOf<SamplerCombineParams>());
    }

    [Theory]
    [InlineData(DType.F32, "sampler_step_predict_f32")]
    [InlineData(DType.F16, "sampler_step_predict_f16")]
    [InlineData(DType.BF16, "sampler_step_predict_bf16")]
    public void A_guided_prediction_reads_both_halves(DType dtype, string entry)
    {
        var device = new FakeDevice();
        var output = device.Make(dtype, 6, 5, 7, 4);
        var latents = device.Make(DType.F32, 3, 5, 7, 4);
        var prediction = device.Make(DType.F32, 3, 5, 7, 4);

        var launch = SamplerStepKernel.PlanPredict(output, latents, prediction, new SamplerPrediction(1.5f, -0.25f, 9f))!.Value;

        Assert.Equal(entry, launch.Entry);
        var p = launch.Params;
        Assert.Equal((FakeDevice.Address(0), FakeDevice.Address(1), FakeDevice.Address(2)), (p.ModelOutput, p.Latents, p.Prediction));
        Assert.Equal((420L, 1, 9f, 1.5f, -0.25f), (p.Count, p.Guided, p.Guidance, p.SampleWeight, p.OutputWeight));
        Assert.Equal(new Dim3(2), launch.Config.Grid);
    }

    [Theory]
    [InlineData(DType.F32, "sampler_step_combine_f32")]
    [InlineData(DType.F16, "sampler_step_combine_f16")]
    [InlineData(DType.BF16, "sampler_step_combine_bf16")]
    public void A_corrected_combination_carries_every_weight_and_writes_the_input_twice(DType dtype, string entry)
    {
        var device = new FakeDevice();
        var latents = device.Make(DType.F32, 3, 5, 7, 4);
        Tensor[] history = [device.Make(DType.F32, 3, 5, 7, 4), device.Make(DType.F32, 3, 5, 7, 4), device.Make(DType.F32, 3, 5, 7, 4)];
        var last = device.Make(DType.F32, 3, 5, 7, 4);
        var copy = device.Make(dtype, 6, 5, 7, 4);

        var launch = SamplerStepKernel.PlanCombine(latents, history, Corrected, last, copy)!.Value;

        Assert.Equal(entry, launch.Entry);
        var p = launch.Params;
        Assert.Equal(
            (FakeDevice.Address(0), FakeDevice.Address(1), FakeDevice.Address(2), FakeDevice.Address(3), FakeDevice.Address(4), FakeDevice.Address(5)),
            (p.Latents, p.History0, p.History1, p.History2, p.Last, p.Copy));
        Assert.Equal((420L, 2, 1), (p.Count, p.Copies, p.Correct));
        Assert.Equal(Corrected.Update, new SamplerWeights(p.UpdateSample, p.UpdateHistory0, p.UpdateHistory1, p.UpdateHistory2));
        Assert.Equal(Corrected.Correction, new SamplerWeights(p.CorrectLast, p.CorrectHistory0, p.CorrectHistory1, p.CorrectHistory2));
        Assert.Equal(0.75f, p.InputScale);
    }

    [Fact]
    public void Absent_tensors_leave_their_addresses_zero()
    {
        var device = new FakeDevice();
        var latents = device.Make(DType.F32, 2, 3, 4);

        var p = SamplerStepKernel.PlanCombine(latents, [device.Make(DType.F32, 2, 3, 4)], new SamplerCombination(new SamplerWeights(0.5f, 0.5f)))!.Value;

        Assert.Equal("sampler_step_combine_f32", p.Entry);
        Assert.Equal((0UL, 0UL, 0UL, 0UL, 0, 0), (p.Params.History1, p.Params.History2, p.Params.Last, p.Params.Copy, p.Params.Copies, p.Params.Correct));
        Assert.Null(SamplerStepKernel.PlanCombine(device.Make(DType.F32, 0, 3), [], SamplerCombination.Identity()));
        Assert.Null(SamplerStepKernel.PlanPredict(device.Make(DType.F16, 0, 3), device.Make(DType.F32, 0, 3), device.Make(DType.F32, 0, 3), new SamplerPrediction(1f, 1f)));
    }

    [Fact]
    public void The_launches_refuse_what_does_not_fit_showing_the_shapes()
    {
        var device = new FakeDevice();
        var latents = device.Make(DType.F32, 2, 3, 3, 4);
        var slot = device.Make(DType.F32, 2, 3, 3, 4);
        var output = device.Make(DType.F16, 4, 3, 3, 4);
        var guided = new SamplerPrediction(1f, 1f, 9f);
        var update = new SamplerWeights(1f, 0.5f, 0.5f);

        string Refusal(Action plan) => Assert.ThrowsAny<ArgumentException>(plan).Message;

        Assert.Contains("latents must be F32 of rank 1 or more, got F16", Refusal(() => SamplerStepKernel.PlanPredict(output, device.Make(DType.F16, 2, 3, 3, 4), slot, guided)), StringComparison.Ordinal);
        Assert.Contains("modelOutput must be F16 [2, 3, 3, 4], got F16 [4, 3, 3, 4]", Refusal(() => SamplerStepKernel.PlanPredict(output, latents, slot, new SamplerPrediction(1f, 1f))), StringComparison.Ordinal);
        Assert.Contains("prediction must be F32 [2, 3, 3, 4], got F16", Refusal(() => SamplerStepKernel.PlanPredict(output, latents, device.Make(DType.F16, 2, 3, 3, 4), guided)), StringComparison.Ordinal);
        Assert.Contains("overlap in memory", Refusal(() => SamplerStepKernel.PlanPredict(output, latents, latents, guided)), StringComparison.Ordinal);
        Assert.Contains("I32", Refusal(() => SamplerStepKernel.PlanPredict(device.Make(DType.I32, 4, 3, 3, 4), latents, slot, guided)), StringComparison.Ordinal);
        Assert.Contains("weighs 2 history entries (at most 3); 1 history tensors were given", Refusal(() => SamplerStepKernel.PlanCombine(latents, [slot], new SamplerCombination(update))), StringComparison.Ordinal);
        Assert.Contains("history[1] must be F32 [2, 3, 3, 4], got F32 [2, 36]", Refusal(() => SamplerStepKernel.PlanCombine(latents, [slot, device.Make(DType.F32, 2, 36)], new SamplerCombination(update))), StringComparison.Ordinal);
        Assert.Contains("overlap in memory", Refusal(() => SamplerStepKernel.PlanCombine(latents, [slot, latents], new SamplerCombination(update))), StringComparison.Ordinal);
        Assert.Contains("last is null", Refusal(() => SamplerStepKernel.PlanCombine(latents, [slot, slot], new SamplerCombination(update, new SamplerWeights(1f)))), StringComparison.Ordinal);
        Assert.Contains("overlap in memory", Refusal(() => SamplerStepKernel.PlanCombine(latents, [slot, slot], new SamplerCombination(update, new SamplerWeights(1f)), slot)), StringComparison.Ordinal);
        Assert.Contains("copy must be F16 [2, 3, 3, 4], got F16 [3, 3, 3, 4]", Refusal(() => SamplerStepKernel.PlanCombine(latents, [slot, slot], new SamplerCombination(update), null, device.Make(DType.F16, 3, 3, 3, 4))), StringComparison.Ordinal);
        Assert.Contains("overlap in memory", Refusal(() => SamplerStepKernel.PlanCombine(latents, [slot, slot], new SamplerCombination(update), null, latents)), StringComparison.Ordinal);
    }
}
