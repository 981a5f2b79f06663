using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Memory;

namespace CudaI2V.Kernels.Cuda;

/// <summary>
/// A forward planned by <c>PlanningOps</c>, on its own <see cref="DeviceArena"/>: <see cref="Run{T}"/> replays the
/// forward with every tensor an op creates taken from the arena in plan order (<see cref="CudaOps.UsePlan"/>), so it
/// allocates nothing. The arena is taken, and checked against the device's free memory, when this is created.
/// </summary>
public sealed class PlannedArena : IDisposable
{
    private readonly CudaOps _ops;
    private readonly DeviceArena _arena;
    private readonly PlannedAllocator _allocator;

    private PlannedArena(CudaOps ops, DeviceArena arena, PlannedAllocator allocator)
    {
        _ops = ops;
        _arena = arena;
        _allocator = allocator;
    }

    /// <summary>The packed plan.</summary>
    public ArenaPlan Plan => _arena.Plan;

    /// <summary>
    /// Takes the arena of <paramref name="plan"/> on <paramref name="ops"/>' device, keeping <paramref name="reserve"/>
    /// bytes free beside it; <paramref name="name"/> names its tensors in messages.
    /// </summary>
    /// <exception cref="ArenaOutOfMemoryException">The plan does not fit the device's free memory.</exception>
    public static PlannedArena Create(CudaOps ops, ArenaPlan plan, long reserve, string name)
    {
        ArgumentNullException.ThrowIfNull(ops);
        ArgumentNullException.ThrowIfNull(plan);
        var arena = DeviceArena.Create(plan, new CudaDeviceAllocator(ops.Context), reserve);
        var allocator = new PlannedAllocator(plan, arena.AddressOf, (address, bytes) => new DeviceStorage(address, bytes, () => true, name));
        return new PlannedArena(ops, arena, allocator);
    }

    /// <summary>Runs <paramref name="forward"/> (the planned forward) on the arena; its tensors stay valid until the next run.</summary>
    public T Run<T>(Func<T> forward)
    {
        ArgumentNullException.ThrowIfNull(forward);
        _allocator.Restart();
        using (_ops.UsePlan(_allocator))
        {
            return forward();
        }
    }

    /// <summary>Waits for the stream, then frees the arena.</summary>
    public void Dispose()
    {
        _ops.Stream.Synchronize();
        _arena.Dispose();
    }
}
