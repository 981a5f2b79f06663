using CudaI2V.Kernels.Cuda;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Gpu;

/// <summary>
/// What the GPU op tests share: inputs rounded to the storage dtype (the CPU reference then runs on exactly the values
/// the kernel reads), outputs poisoned with NaN before the kernel runs (so an element it never writes fails the
/// comparison), and the tolerance of each storage dtype.
/// </summary>
internal static class GpuOpCheck
{
    public static TheoryData<DType> StorageTypes() => [DType.F32, DType.F16, DType.BF16];

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

    /// <summary>A device copy of <paramref name="host"/> (F32) in <paramref name="storage"/>.</summary>
    public static Tensor Upload(DeviceScratch scratch, Tensor host, DType storage) => scratch.Upload(host.To(storage));

    /// <summary>A new device tensor filled with NaN, so that any element a kernel fails to write shows.</summary>
    public static Tensor Poisoned(GpuSession gpu, DeviceScratch scratch, DType dtype, params int[] dims)
    {
        var tensor = scratch.Empty(dtype, dims);
        FillKernel.Run(gpu.Kernels, gpu.Stream, tensor, float.NaN);
        return tensor;
    }

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
}
