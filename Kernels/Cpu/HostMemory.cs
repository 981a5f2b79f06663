using System.Runtime.InteropServices;
using CudaI2V.Kernels.Memory;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cpu;

/// <summary>
/// The CPU backend's memory. Tensors outside an arena are managed arrays that the garbage collector frees, so scopes
/// and the weight block have nothing to free. A planned arena is real: one native block of the plan's peak, every op
/// output a view at its packed offset, zeroed when handed out (as <see cref="CpuOps"/>' own tensors are). So the CPU,
/// the oracle, also checks every plan: a liveness error in a plan changes the CPU's results, which the tests compare
/// bit for bit with unplanned runs. A graph on the CPU is the forward run again.
/// </summary>
public sealed class HostMemory : IBackendMemory
{
    internal PlannedOutputs Outputs { get; } = new();

    /// <inheritdoc/>
    public long WeightBlockOverflow => 0;

    /// <inheritdoc/>
    /// <remarks>The memory the runtime reports available to this process (physical memory or the container's limit) less what is in use.</remarks>
    public long AvailableBytes
    {
        get
        {
            var info = GC.GetGCMemoryInfo();
            return Math.Max(0, info.TotalAvailableMemoryBytes - info.MemoryLoadBytes);
        }
    }

    /// <inheritdoc/>
    public string Description => "host memory";

    /// <inheritdoc/>
    public IMemoryScope BeginScope() => ManagedPieces.Scope;

    /// <inheritdoc/>
    public IDisposable UploadWeightsInto(IEnumerable<TensorShape> shapes)
    {
        ArgumentNullException.ThrowIfNull(shapes);
        return ManagedPieces.NoBlock;
    }

    /// <inheritdoc/>
    public IWeightBlock UploadReleasableWeightsInto(IEnumerable<TensorShape> shapes)
    {
        ArgumentNullException.ThrowIfNull(shapes);
        return ManagedPieces.NoReleasableBlock;
    }

    /// <inheritdoc/>
    public IPlannedArena TakeArena(ArenaPlan plan, long reserve, string name, IPlannedArena? over = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(name);
        var peak = plan.Buffers.Any(b => b.Offset < 0) ? plan.Pack() : plan.Peak;
        if (over is not null)
        {
            return over is Arena owner && peak <= owner.Bytes
                ? new Arena(this, plan, name, owner)
                : throw new ArgumentException($"The {name} ({ArenaPlan.FormatBytes(peak)}) can only share a larger arena of this memory; take the larger first.", nameof(over));
        }

        var available = AvailableBytes;
        if (peak + reserve > available)
        {
            throw new ArenaOutOfMemoryException(
                $"The {name} needs {ArenaPlan.FormatBytes(peak)} (+{ArenaPlan.FormatBytes(reserve)} kept free) but {Description} has "
                + $"{ArenaPlan.FormatBytes(available)} available. Lower the resolution or the frame count. Plan: {plan.Describe()}.");
        }

        return new Arena(this, plan, name);
    }

    /// <inheritdoc/>
    public IForwardGraph Capture(Func<Tensor> forward)
    {
        ArgumentNullException.ThrowIfNull(forward);
        return ManagedPieces.Rerun(forward);
    }

    /// <inheritdoc/>
    public IPendingHostCopy CopyToHostLater(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        return ManagedPieces.Done(x.To(x.DType));
    }

    /// <inheritdoc/>
    public void Synchronize()
    {
    }

    /// <summary>One native block holding a plan's buffers; each handed-out view is zeroed first.</summary>
    private sealed unsafe class Arena : IPlannedArena
    {
        private readonly HostMemory _owner;
        private readonly byte* _block;
        private readonly Arena? _lender;
        private readonly PlannedAllocator _allocator;
        private readonly string _name;
        private bool _disposed;

        /// <summary>An arena of its own block, or (with <paramref name="lender"/>) in that arena's block.</summary>
        public Arena(HostMemory owner, ArenaPlan plan, string name, Arena? lender = null)
        {
            _owner = owner;
            _name = name;
            _lender = lender;
            Plan = plan;
            Bytes = lender?.Bytes ?? Math.Max(plan.Peak, ArenaPlan.Alignment);

            // SAFETY: the block lives until the owning arena's Dispose; views check that before every access (UnmanagedHostStorage).
            _block = lender is null ? (byte*)NativeMemory.AlignedAlloc((nuint)Bytes, (nuint)ArenaPlan.Alignment) : lender._block;
            _allocator = new PlannedAllocator(plan, id => (ulong)plan.OffsetOf(id), Zeroed);
        }

        public ArenaPlan Plan { get; }

        /// <summary>The block's size.</summary>
        public long Bytes { get; }

        private bool Live => !_disposed && _lender?._disposed != true;

        public T Run<T>(Func<T> forward)
        {
            ObjectDisposedException.ThrowIf(!Live, this);
            return _owner.Outputs.Run(_allocator, forward);
        }

        private UnmanagedHostStorage Zeroed(ulong offset, long bytes)
        {
            var storage = new UnmanagedHostStorage(_block + offset, bytes, () => Live, _name);
            for (long done = 0; done < bytes; done += int.MaxValue)
            {
                storage.GetBytes(done, (int)Math.Min(int.MaxValue, bytes - done)).Clear();
            }

            return storage;
        }

        public void Dispose()
        {
            if (!_disposed)
            {
                _disposed = true;
                if (_lender is null)
                {
                    NativeMemory.AlignedFree(_block);
                }
            }
        }
    }
}
