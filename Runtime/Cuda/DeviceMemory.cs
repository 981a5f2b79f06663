using CudaI2V.Native.Driver;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Runtime.Cuda;

/// <summary>
/// Raw device allocations: what the weights allocation and the activation arena sit on. Each
/// <see cref="Allocate"/> is one cuMemAlloc; code that runs per step carves views out of an existing allocation
/// instead of allocating.
/// </summary>
public static class DeviceMemory
{
    /// <summary>Allocates <paramref name="bytes"/> of device memory (256-byte aligned). Throws CudaException (out of memory) when it does not fit.</summary>
    public static DeviceAllocation Allocate(CudaContext context, long bytes)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        context.MakeCurrent();
        return new DeviceAllocation(context, new DeviceMemoryHandle(CudaDriver.Allocate(bytes)), bytes);
    }

    /// <summary>Enqueues copying <paramref name="bytes"/> from one device address to another on <paramref name="stream"/>.</summary>
    public static void CopyAsync(CudaStream stream, ulong destination, ulong source, long bytes)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        if (bytes > 0)
        {
            stream.Context.MakeCurrent();
            CudaDriver.CopyDeviceToDeviceAsync(destination, source, bytes, stream.Handle);
        }
    }

    /// <summary>Enqueues setting <paramref name="bytes"/> bytes at <paramref name="destination"/> to <paramref name="value"/> (a memset).</summary>
    public static void SetBytesAsync(CudaStream stream, ulong destination, byte value, long bytes)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        if (bytes > 0)
        {
            stream.Context.MakeCurrent();
            CudaDriver.MemsetAsync(destination, value, bytes, stream.Handle);
        }
    }

    /// <summary>Free and total memory of the context's device.</summary>
    public static DeviceMemoryInfo GetInfo(CudaContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.MemoryInfo();
    }
}

/// <summary>
/// One device allocation, freed by <see cref="Dispose"/> (never by a finalizer). Tensors view it through
/// <see cref="Storage"/>; they do not keep it alive, and using a view after disposal throws ObjectDisposedException.
/// </summary>
public sealed class DeviceAllocation : IDeviceAllocation
{
    private readonly DeviceMemoryHandle _handle;

    internal DeviceAllocation(CudaContext context, DeviceMemoryHandle handle, long byteLength)
    {
        Context = context;
        _handle = handle;
        ByteLength = byteLength;
        Storage = new DeviceStorage((ulong)handle.Value, byteLength, () => !_handle.IsClosed, "DeviceAllocation");
    }

    /// <summary>The context the memory belongs to.</summary>
    public CudaContext Context { get; }

    /// <summary>Device address of the first byte.</summary>
    public ulong Address => Storage.Address;

    /// <summary>Size in bytes.</summary>
    public long ByteLength { get; }

    /// <inheritdoc/>
    long IDeviceAllocation.Bytes => ByteLength;

    /// <summary>The allocation as tensor storage.</summary>
    public DeviceStorage Storage { get; }

    /// <summary>True once freed.</summary>
    public bool IsDisposed => _handle.IsClosed;

    /// <summary>A contiguous <paramref name="dtype"/> tensor of <paramref name="shape"/> at <paramref name="byteOffset"/>.</summary>
    public Tensor View(DType dtype, TensorShape shape, long byteOffset = 0) => Tensor.View(Storage, byteOffset, dtype, shape);

    /// <summary>Frees the memory (the caller makes sure no enqueued work still uses it). Never throws.</summary>
    public void Dispose()
    {
        if (!_handle.IsClosed)
        {
            Context.TryMakeCurrent();
        }

        _handle.Dispose();
    }
}
