using CudaI2V.Kernels.Cuda;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Runtime.Blas;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Kernels.Cuda;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Gpu;

/// <summary>
/// The GPU as an <see cref="IOpTestDevice"/>: launcher plans run through <see cref="CudaKernels.Launch(CudaStream, IKernelPlan?)"/>,
/// ops through their public <c>Run</c>, all on one stream with cuBLAS and cuBLASLt bound to it; each waits for the
/// stream, so an asynchronous fault surfaces in the test that caused it.
/// </summary>
internal sealed class GpuOpDevice : IOpTestDevice
{
    private readonly GpuSession _gpu;
    private readonly DeviceScratch _scratch;
    private readonly CublasGemm? _blas;
    private readonly CublasLtGemm? _blasLt;
    private readonly CudaOpContext? _context;

    /// <summary>
    /// Opens the shared GPU session (skips, or fails under CUDAI2V_REQUIRE_GPU=1, without a GPU, or without cuBLAS
    /// when <paramref name="blas"/>: kernel cases alone do not need it).
    /// </summary>
    public GpuOpDevice(bool blas = true)
    {
        _gpu = blas ? GpuProbe.RequireCublas() : GpuProbe.Require();
        _scratch = new DeviceScratch(_gpu);
        if (blas)
        {
            _blas = new CublasGemm(_gpu.Stream);
            _blasLt = new CublasLtGemm(_gpu.Stream);
            _context = new CudaOpContext(_gpu.Kernels, _gpu.Stream, _blas, _blasLt);
        }
    }

    public Tensor Empty(DType dtype, params int[] dims) => _scratch.Empty(dtype, dims);

    public Tensor Upload(Tensor host) => _scratch.Upload(host);

    public Tensor UploadAt(Tensor host, long byteOffset)
    {
        var buffer = _scratch.Empty(DType.U8, (int)(host.ByteLength + byteOffset));
        var device = Tensor.View(buffer.Storage, byteOffset, host.DType, host.Shape);
        _gpu.Transfer.Upload(host.Contiguous(), device, _gpu.Stream);
        return device;
    }

    public Tensor Download(Tensor device) => _scratch.Download(device);

    public void Poison(Tensor device) => DeviceMemory.SetBytesAsync(_gpu.Stream, device.DeviceAddress(), 0xFF, device.ByteLength);

    public void Launch(IKernelPlan? plan)
    {
        _gpu.Kernels.Launch(_gpu.Stream, plan);
        _gpu.Stream.Synchronize();
    }

    public void Run(Action<CudaOpContext?> op, IEnumerable<OpStep> steps)
    {
        op(_context ?? throw new InvalidOperationException("This device was opened without cuBLAS; open it with blas: true to run GEMM-based ops."));
        _gpu.Stream.Synchronize();
    }

    public void Dispose()
    {
        _scratch.Dispose();
        _blasLt?.Dispose();
        _blas?.Dispose();
    }
}
