using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Memory;

/// <summary>
/// Whether the tensors ops create come from a planned arena right now, and from which: the switch a backend's memory
/// flips for the length of <see cref="IPlannedArena.Run{T}"/>. Ops ask <see cref="TryTake"/> for their output and
/// allocate it themselves only when no arena is in use.
/// </summary>
internal sealed class PlannedOutputs
{
    private PlannedAllocator? _current;

    /// <summary>The next planned tensor for <paramref name="op"/>, or null when no arena is in use.</summary>
    public Tensor? TryTake(string op, DType dtype, TensorShape shape) => _current?.Allocate(op, dtype, shape);

    /// <summary>Runs <paramref name="forward"/> with every op output taken from <paramref name="allocator"/>, from its first buffer.</summary>
    public T Run<T>(PlannedAllocator allocator, Func<T> forward)
    {
        ArgumentNullException.ThrowIfNull(allocator);
        ArgumentNullException.ThrowIfNull(forward);
        if (_current is not null)
        {
            throw new InvalidOperationException("A planned arena is already in use; planned forwards do not nest.");
        }

        _current = allocator;
        allocator.Restart();
        try
        {
            var result = forward();
            if (!allocator.Complete)
            {
                throw new InvalidOperationException(
                    $"The forward created {allocator.Position} tensors where its plan has more; it differs from what was planned. Plan it again for these sizes.");
            }

            return result;
        }
        finally
        {
            _current = null;
        }
    }
}
