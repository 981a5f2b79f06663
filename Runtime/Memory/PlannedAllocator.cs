using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Runtime.Memory;

/// <summary>
/// Hands out the tensors of a planned forward, in the order the plan recorded them, at their packed offsets in
/// a <see cref="DeviceArena"/>: running the same forward again allocates nothing. If the forward asks for a
/// tensor the plan does not have at that position (a different size or op), it throws at once, naming both:
/// the work changed since it was planned (a different resolution, frame count or code path).
/// </summary>
public sealed class PlannedAllocator
{
    private readonly ArenaPlan _plan;
    private readonly Func<ulong, long, TensorStorage> _storage;
    private readonly Func<int, ulong> _address;
    private int _next;

    /// <summary>
    /// Replays <paramref name="plan"/>; <paramref name="address"/> gives a buffer's device address (for example
    /// <see cref="DeviceArena.AddressOf"/>) and <paramref name="storage"/> wraps an address and a size as tensor
    /// storage of the backend.
    /// </summary>
    public PlannedAllocator(ArenaPlan plan, Func<int, ulong> address, Func<ulong, long, TensorStorage> storage)
    {
        _plan = plan ?? throw new ArgumentNullException(nameof(plan));
        _address = address ?? throw new ArgumentNullException(nameof(address));
        _storage = storage ?? throw new ArgumentNullException(nameof(storage));
    }

    /// <summary>Tensors handed out since the last <see cref="Restart"/>.</summary>
    public int Position => _next;

    /// <summary>True when every planned tensor has been handed out.</summary>
    public bool Complete => _next == _plan.Buffers.Count;

    /// <summary>Starts the sequence again (the next run of the same forward).</summary>
    public void Restart() => _next = 0;

    /// <summary>The next planned tensor; <paramref name="op"/> is the op asking, checked against the plan.</summary>
    public Tensor Allocate(string op, DType dtype, TensorShape shape)
    {
        ArgumentNullException.ThrowIfNull(op);
        ArgumentNullException.ThrowIfNull(shape);
        var bytes = Math.Max(shape.ElementCount * dtype.SizeOf(), 1);
        if (_next >= _plan.Buffers.Count)
        {
            throw new InvalidOperationException(
                $"The forward asked for more tensors than its plan holds ({_plan.Buffers.Count}); {op} wanted {bytes} bytes. Plan the forward again for these sizes.");
        }

        var buffer = _plan.Buffers[_next];
        if (buffer.Bytes != bytes || !buffer.Name.StartsWith(op + "#", StringComparison.Ordinal))
        {
            throw new InvalidOperationException(
                $"The forward differs from its plan at tensor #{_next}: the plan has {buffer.Name} of {buffer.Bytes} bytes, the run asks {op} for {bytes} bytes. Plan the forward again for these sizes.");
        }

        _next++;
        return Tensor.View(_storage(_address(buffer.Id), bytes), 0, dtype, shape);
    }
}
