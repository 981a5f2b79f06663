using CudaI2V.Runtime.Memory;

namespace CudaI2V.Runtime.Cuda;

/// <summary>The GPU of a <see cref="CudaContext"/> as the source of a <see cref="DeviceArena"/>'s one block.</summary>
public sealed class CudaDeviceAllocator(CudaContext context) : IDeviceAllocator
{
    private readonly CudaContext _context = context ?? throw new ArgumentNullException(nameof(context));

    /// <inheritdoc/>
    public string Description => _context.ToString();

    /// <inheritdoc/>
    public (long Free, long Total) MemoryInfo()
    {
        var info = DeviceMemory.GetInfo(_context);
        return (info.Free, info.Total);
    }

    /// <inheritdoc/>
    public IDeviceAllocation Allocate(long bytes) => DeviceMemory.Allocate(_context, bytes);
}
