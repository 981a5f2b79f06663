using CudaI2V.Kernels.Cuda;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda;

/// <summary>
/// Where the kernel and op tests run: the real GPU (<c>GpuOpDevice</c>) or the host emulation
/// (<see cref="Emulation.EmulatedDevice"/>), so the same case tables check the plans on this machine and the kernels and
/// cuBLAS calls on a GPU.
/// </summary>
internal interface IOpTestDevice : IDisposable
{
    /// <summary>A new device tensor (256-byte aligned); contents unspecified.</summary>
    Tensor Empty(DType dtype, params int[] dims);

    /// <summary>A device copy of a host tensor (same dtype).</summary>
    Tensor Upload(Tensor host);

    /// <summary>
    /// A device copy of a host tensor placed <paramref name="byteOffset"/> bytes into a fresh allocation (a view that
    /// is not 256-byte aligned when the offset is not).
    /// </summary>
    Tensor UploadAt(Tensor host, long byteOffset);

    /// <summary>The values of a contiguous device tensor as a host tensor of its dtype.</summary>
    Tensor Download(Tensor device);

    /// <summary>Sets every byte of a contiguous device tensor to 0xFF: NaN in fp32, fp16 and bf16.</summary>
    void Poison(Tensor device);

    /// <summary>Runs a launcher's plan (nothing when null) and waits for it.</summary>
    void Launch(IKernelPlan? plan);

    /// <summary>Runs an op's steps (or the op itself) on this device.</summary>
    void Run(Action<CudaOpContext?> op, IEnumerable<OpStep> steps);
}
