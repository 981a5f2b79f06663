using CudaI2V.Kernels.Memory;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Planning;

/// <summary>
/// The planning recorder's memory: nothing is allocated, so there is nothing to free or to run out of. An arena's run
/// and a graph's replay run the forward again, which records it again; a host copy reads the tensor (for liveness) and
/// gives zeros.
/// </summary>
public sealed class PlanningMemory : IBackendMemory
{
    private readonly PlanningOps _ops;

    internal PlanningMemory(PlanningOps ops) => _ops = ops;

    /// <inheritdoc/>
    public long WeightBlockOverflow => 0;

    /// <inheritdoc/>
    public long AvailableBytes => long.MaxValue;

    /// <inheritdoc/>
    public string Description => "the planning recorder";

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
    public IPlannedArena TakeArena(ArenaPlan plan, long reserve, string name, IPlannedArena? over = null) => new Recorded(plan ?? throw new ArgumentNullException(nameof(plan)));

    /// <inheritdoc/>
    public IForwardGraph Capture(Func<Tensor> forward) => ManagedPieces.Rerun(forward);

    /// <inheritdoc/>
    public IPendingHostCopy CopyToHostLater(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        _ops.ReadForHost(x);
        return ManagedPieces.Done(Tensor.Zeros(x.DType, x.Shape));
    }

    /// <inheritdoc/>
    public void Synchronize()
    {
    }

    private sealed class Recorded(ArenaPlan plan) : IPlannedArena
    {
        public ArenaPlan Plan => plan;

        public T Run<T>(Func<T> forward) => (forward ?? throw new ArgumentNullException(nameof(forward)))();

        public void Dispose()
        {
        }
    }
}
