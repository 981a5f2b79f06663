namespace CudaI2V.Runtime.Memory;

/// <summary>The arena a plan needs does not fit on the device; the message says what was needed and what is free.</summary>
public sealed class ArenaOutOfMemoryException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ArenaOutOfMemoryException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public ArenaOutOfMemoryException()
        : this("The planned arena does not fit on the device.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public ArenaOutOfMemoryException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// The activations of a planned piece of work, in one device allocation: each buffer of the packed
/// <see cref="ArenaPlan"/> is an address inside it. The plan is checked against the device's free memory before
/// anything is allocated, so a request that cannot fit fails before any work with a message saying what it
/// needs. Disposing frees the block; addresses handed out must not be used afterwards.
/// </summary>
public sealed class DeviceArena : IDisposable
{
    private readonly ArenaPlan _plan;
    private readonly IDeviceAllocation _block;

    private DeviceArena(ArenaPlan plan, IDeviceAllocation block)
    {
        _plan = plan;
        _block = block;
    }

    /// <summary>Bytes allocated: the plan's peak.</summary>
    public long Bytes => _block.Bytes;

    /// <summary>The plan.</summary>
    public ArenaPlan Plan => _plan;

    /// <summary>
    /// Packs <paramref name="plan"/> (if needed), checks it against the free memory of
    /// <paramref name="allocator"/> minus <paramref name="reserve"/> bytes kept for the libraries (cuBLAS
    /// workspace, graphs), and makes the one allocation.
    /// </summary>
    public static DeviceArena Create(ArenaPlan plan, IDeviceAllocator allocator, long reserve = 0)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(allocator);
        var peak = plan.Buffers.Count == 0 || plan.Buffers.Any(b => b.Offset < 0) ? plan.Pack() : plan.Peak;
        var (free, total) = allocator.MemoryInfo();
        if (peak + reserve > free)
        {
            throw new ArenaOutOfMemoryException(
                $"The activations need {ArenaPlan.FormatBytes(peak)} (+{ArenaPlan.FormatBytes(reserve)} for libraries) but {allocator.Description} has "
                + $"{ArenaPlan.FormatBytes(free)} free of {ArenaPlan.FormatBytes(total)}. Lower the resolution or the frame count, or decode fewer "
                + $"frames at a time. Plan: {plan.Describe()}.");
        }

        return new DeviceArena(plan, allocator.Allocate(Math.Max(peak, ArenaPlan.Alignment)));
    }

    /// <summary>
    /// An arena of <paramref name="plan"/> in <paramref name="owner"/>'s block, allocating nothing: for two forwards
    /// that never run at once (a step's two kinds under step caching). Disposing it leaves the block to its owner.
    /// </summary>
    /// <exception cref="ArgumentException">The plan needs more than the owner's block.</exception>
    public static DeviceArena Over(DeviceArena owner, ArenaPlan plan)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(plan);
        var peak = plan.Buffers.Count == 0 || plan.Buffers.Any(b => b.Offset < 0) ? plan.Pack() : plan.Peak;
        if (peak > owner.Bytes)
        {
            throw new ArgumentException($"A plan of {ArenaPlan.FormatBytes(peak)} does not fit in an arena of {ArenaPlan.FormatBytes(owner.Bytes)}; take the larger arena first.", nameof(plan));
        }

        return new DeviceArena(plan, new Borrowed(owner._block));
    }

    /// <summary>The device address of buffer <paramref name="id"/>.</summary>
    public ulong AddressOf(int id) => _block.Address + (ulong)_plan.OffsetOf(id);

    /// <inheritdoc/>
    public void Dispose() => _block.Dispose();

    /// <summary>Another arena's block, not freed here.</summary>
    private sealed class Borrowed(IDeviceAllocation block) : IDeviceAllocation
    {
        public ulong Address => block.Address;

        public long Bytes => block.Bytes;

        public void Dispose()
        {
        }
    }
}
