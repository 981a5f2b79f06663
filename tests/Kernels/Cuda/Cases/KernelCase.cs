using CudaI2V.Kernels.Cpu;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Kernels.Cuda.Cases;

/// <summary>
/// One row of a kernel case table: it makes its inputs (rounded to the storage dtype first, so the CPU reference runs
/// on exactly the values the kernel reads), plans the launch with the real launcher, runs the plan on a device (the
/// emulation on every machine, the GPU where there is one) with its outputs poisoned with NaN (so an element the
/// kernel never writes fails), and checks the result against <see cref="CpuOps"/> or an exact host computation.
/// A new kernel, or a new shape for an old one, is one more row (<see cref="KernelCaseSuite"/> runs every table).
/// </summary>
internal abstract record KernelCase
{
    /// <summary>Runs the case on <paramref name="device"/> and asserts its result.</summary>
    public abstract void Run(IOpTestDevice device);
}

/// <summary>What the kernel cases share: the CPU reference, inputs, poisoned outputs and the tolerance of each storage dtype.</summary>
internal static class KernelCases
{
    /// <summary>The CPU backend, the reference.</summary>
    public static CpuOps Cpu { get; } = new();

    /// <summary>The storage dtypes every kernel takes.</summary>
    public static IReadOnlyList<DType> StorageTypes { get; } = [DType.F32, DType.F16, DType.BF16];

    /// <summary>The names of a table's rows, for a theory.</summary>
    public static TheoryData<string> Names(IReadOnlyDictionary<string, KernelCase> cases) => [.. cases.Keys];

    /// <summary>A dtype as row names show it (f32, f16, bf16).</summary>
    public static string Short(DType dtype) => dtype.ToString().ToLowerInvariant();

    /// <summary>
    /// How far a kernel's output may be from the CPU reference computed on the same (rounded) inputs.
    /// <list type="bullet">
    /// <item>F32: the kernels compute in fp32 where the reference uses double; results of unit scale differ by a few
    /// fp32 roundings (and by libdevice's expf/erff, within 2 ulp): 1e-5 absolute + relative.</item>
    /// <item>F16: the output is rounded once from an fp32 value. Half an ulp is 2^-11 (4.9e-4) of the value; where the
    /// exact result lies within fp32 noise (about 1e-6 relative) of a rounding midpoint the kernel may land on the
    /// neighbouring value, one ulp (2^-10, 9.8e-4) away. Relative 2e-3 is two ulps. Absolute 1e-5 covers results near
    /// zero: fp16's subnormal spacing is 6e-8, and a norm's (x - mean) * rstd * gamma + beta that nearly cancels keeps an
    /// fp32 error of about 1e-7 of its terms (unit scale here). The NMSE bound is about one ulp squared.</item>
    /// <item>BF16: the same argument with 8 significant bits: an ulp is 2^-7 (7.8e-3) of the value, two are 1.6e-2.</item>
    /// </list>
    /// </summary>
    public static Tolerance For(DType storage) => storage switch
    {
        DType.F32 => new Tolerance(1e-5, 1e-5, 1e-10),
        DType.F16 => new Tolerance(1e-5, 2e-3, 1e-6),
        DType.BF16 => new Tolerance(1e-5, 1.6e-2, 1e-4),
        _ => throw new ArgumentOutOfRangeException(nameof(storage), storage, "Not a storage dtype of the kernels."),
    };

    /// <summary>A host F32 tensor rounded to <paramref name="storage"/>: upload it with <c>.To(storage)</c>, feed the reference as is.</summary>
    public static Tensor Rounded(Tensor host, DType storage) => host.To(storage).To(DType.F32);

    /// <summary>A host F32 tensor of <paramref name="dims"/> uniform in [offset - scale, offset + scale).</summary>
    public static Tensor Uniform(ulong seed, float scale, float offset, params int[] dims)
    {
        var shape = new TensorShape(dims);
        var values = new TestData(seed).Floats((int)shape.ElementCount, scale);
        for (var i = 0; i < values.Length; i++)
        {
            values[i] += offset;
        }

        return Tensor.FromSpan<float>(values, shape);
    }

    /// <summary>A rounded input: <see cref="Uniform"/> rounded to <paramref name="storage"/>.</summary>
    public static Tensor Input(DType storage, ulong seed, float scale, float offset, params int[] dims) => Rounded(Uniform(seed, scale, offset, dims), storage);

    /// <summary>A device copy of the F32 host tensor <paramref name="host"/> in <paramref name="storage"/>.</summary>
    public static Tensor Upload(this IOpTestDevice device, Tensor host, DType storage) => device.Upload(host.To(storage));

    /// <summary>A new device tensor filled with NaN, so that any element a kernel fails to write shows.</summary>
    public static Tensor Poisoned(this IOpTestDevice device, DType dtype, params int[] dims)
    {
        var tensor = device.Empty(dtype, dims);
        device.Poison(tensor);
        return tensor;
    }

    /// <summary>A device tensor's values as an F32 host tensor.</summary>
    public static Tensor Floats(this IOpTestDevice device, Tensor tensor) => device.Download(tensor).To(DType.F32);
}
