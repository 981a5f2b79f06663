using CudaI2V.Kernels;
using CudaI2V.Kernels.Cpu;
using CudaI2V.Kernels.Cuda.Backend;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Scheduling;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Gpu;

/// <summary>
/// The multistep samplers' two ops on a real GPU (SamplerStep.cu through <see cref="CudaOps"/>) held to
/// <see cref="CpuOps"/>: the fp32 latents, history slot and last sample within 1e-6 relative per step (the kernels
/// use the CPU's float32 operations in its order, so they should agree bit for bit), the next input as their rounding;
/// and whole fixture trajectories run on the GPU in fp32 against the same runs on the CPU (skipped without a GPU).
/// </summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuSamplerStepKernelTests
{
    private const double MaxRel = 1e-6;

    public static TheoryData<DType, bool> Cases()
    {
        var data = new TheoryData<DType, bool>();
        foreach (var dtype in new[] { DType.F32, DType.F16, DType.BF16 })
        {
            data.Add(dtype, true);
            data.Add(dtype, false);
        }

        return data;
    }

    public static TheoryData<string> Variants => SamplerFixtures.Variants;

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_corrected_step_equals_the_cpu_ops(DType dtype, bool guided)
    {
        var gpu = GpuProbe.Require();
        using var ops = new CudaOps(gpu.Context, new CudaOpsOptions(dtype));
        var cpu = new CpuOps();
        var shape = new TensorShape(3, 5, 7, 4);
        var batch = guided ? 2 : 1;
        var latents = Values(21, shape, 2f);
        var last = Values(22, shape, 2f);
        var history = new[] { Values(23, shape, 1f), Values(24, shape, 1f) };
        // The model output as the GPU holds it (rounded to its dtype), so both sides start from the same values.
        var output = Values(25, new TensorShape(3 * batch, 5, 7, 4), 1.5f).To(dtype).To(DType.F32);
        var prediction = new SamplerPrediction(4.0961f, -3.9991f, guided ? 9f : null);
        var combination = new SamplerCombination(
            new SamplerWeights(0.93f, 0.061f, -0.013f, 0.0042f), new SamplerWeights(1.02f, -0.031f, 0.017f, 0.0029f), 0.812f);

        var deviceLatents = ops.FromHost(latents, DType.F32);
        var deviceLast = ops.FromHost(last, DType.F32);
        var slots = new[] { ops.Empty(DType.F32, shape), ops.FromHost(history[0], DType.F32), ops.FromHost(history[1], DType.F32) };
        var next = ops.Empty(dtype, new TensorShape(3 * batch, 5, 7, 4));
        ops.SamplerPredict(ops.FromHost(output), deviceLatents, slots[0], prediction);
        ops.SamplerCombine(deviceLatents, slots, combination, deviceLast, next);

        var hostLatents = latents.To(DType.F32);
        var hostLast = last.To(DType.F32);
        var hostSlots = new[] { Tensor.Zeros(DType.F32, shape), history[0].To(DType.F32), history[1].To(DType.F32) };
        var hostNext = Tensor.Zeros(DType.F32, next.Shape);
        cpu.SamplerPredict(output, hostLatents, hostSlots[0], prediction);
        cpu.SamplerCombine(hostLatents, hostSlots, combination, hostLast, hostNext);

        AssertClose(hostSlots[0], ops.ToHost(slots[0]), "prediction");
        AssertClose(hostLast, ops.ToHost(deviceLast), "last sample");
        AssertClose(hostLatents, ops.ToHost(deviceLatents), "latents");
        Assert.Equal(hostNext.To(dtype).To(DType.F32).ToFloat32Array(), ops.ToHost(next).ToFloat32Array());
    }

    [Fact]
    public void A_slot_of_weight_zero_is_not_read_on_the_gpu()
    {
        var gpu = GpuProbe.Require();
        using var ops = new CudaOps(gpu.Context, new CudaOpsOptions(DType.F32));
        var shape = new TensorShape(2, 3, 4);
        var latents = ops.FromHost(Values(26, shape, 1f), DType.F32);
        var fresh = ops.FromHost(Values(27, shape, 1f), DType.F32);
        var nan = ops.FromHost(Tensor.FromSpan<float>(Enumerable.Repeat(float.NaN, (int)shape.ElementCount).ToArray(), shape), DType.F32);

        ops.SamplerCombine(latents, [fresh, nan], new SamplerCombination(new SamplerWeights(0f, 1f)));

        Assert.Equal(ops.ToHost(fresh).ToFloat32Array(), ops.ToHost(latents).ToFloat32Array());
        Assert.Equal(0L, ops.CountNonFinite(latents));
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void A_whole_trajectory_on_the_gpu_equals_the_cpu_run(string variant)
    {
        var gpu = GpuProbe.Require();
        using var ops = new CudaOps(gpu.Context, new CudaOpsOptions(DType.F32));
        var path = SamplerFixtures.Trajectory(variant, 25);

        var onGpu = SamplerFixtures.Run(SamplerFixtures.Create(variant), ops, path);
        var onCpu = SamplerFixtures.Run(SamplerFixtures.Create(variant), new CpuOps(), path);

        Assert.Equal(onCpu.Count, onGpu.Count);
        for (var i = 0; i < onCpu.Count; i++)
        {
            AssertClose(onCpu[i].Actual, onGpu[i].Actual, $"{variant} {onCpu[i].Name}");
        }
    }

    private static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        var rel = SamplerFixtures.MaxRel(actual, expected);
        Assert.True(rel <= MaxRel, $"{what}: the GPU is max_rel {rel:E3} from the CPU (bar {MaxRel:E0}).");
    }

    private static Tensor Values(ulong seed, TensorShape shape, float scale) =>
        Tensor.FromSpan<float>(new TestData(seed).Floats((int)shape.ElementCount, scale), shape);
}
