using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Gpu;

/// <summary>Device tensors for one GPU test: each its own allocation, all freed (after the stream drains) on disposal.</summary>
internal sealed class DeviceScratch(GpuSession session) : IDisposable
{
    private readonly List<DeviceAllocation> _allocations = [];

    /// <summary>A new device tensor; its contents are whatever the memory held.</summary>
    public Tensor Empty(DType dtype, params int[] dims)
    {
        var shape = new TensorShape(dims);
        var allocation = DeviceMemory.Allocate(session.Context, Math.Max(shape.ElementCount * dtype.SizeOf(), 1));
        _allocations.Add(allocation);
        return allocation.View(dtype, shape);
    }

    /// <summary>A device copy of a host tensor (same dtype).</summary>
    public Tensor Upload(Tensor host)
    {
        var device = Empty(host.DType, [.. host.Shape.Dims]);
        session.Transfer.Upload(host.Contiguous(), device, session.Stream);
        return device;
    }

    /// <summary>The values of a device tensor, as a host tensor of its dtype (waits for the stream).</summary>
    public Tensor Download(Tensor device) => session.Transfer.ToHost(device, session.Stream);

    /// <summary>The values of a device tensor as floats.</summary>
    public float[] Floats(Tensor device) => Download(device).ToFloat32Array();

    public void Dispose()
    {
        session.Stream.Synchronize();
        foreach (var allocation in _allocations)
        {
            allocation.Dispose();
        }
    }
}
