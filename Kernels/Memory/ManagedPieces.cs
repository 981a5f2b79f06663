using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Memory;

/// <summary>
/// The memory pieces of a backend whose tensors the garbage collector frees (the CPU and the planning recorder):
/// scopes and weight uploads have nothing to free, a graph is its forward run again, and a host copy is done at once.
/// </summary>
internal static class ManagedPieces
{
    /// <summary>A scope with nothing to free.</summary>
    public static IMemoryScope Scope { get; } = new NoScope();

    /// <summary>A weight upload with no block to fill.</summary>
    public static IDisposable NoBlock { get; } = new Nothing();

    /// <summary>A releasable weight block with nothing to free (the garbage collector frees the weights once unreferenced).</summary>
    public static IWeightBlock NoReleasableBlock { get; } = new NothingReleasable();

    /// <summary>A "graph" that runs <paramref name="forward"/> again at each replay.</summary>
    public static IForwardGraph Rerun(Func<Tensor> forward) => new RerunGraph(forward ?? throw new ArgumentNullException(nameof(forward)));

    /// <summary>A copy that is already done.</summary>
    public static IPendingHostCopy Done(Tensor host) => new DoneCopy(host);

    private sealed class NoScope : IMemoryScope
    {
        public Tensor Keep(Tensor tensor) => tensor ?? throw new ArgumentNullException(nameof(tensor));

        public void Dispose()
        {
        }
    }

    private sealed class Nothing : IDisposable
    {
        public void Dispose()
        {
        }
    }

    private sealed class NothingReleasable : IWeightBlock
    {
        public void EndUpload()
        {
        }

        public void Dispose()
        {
        }
    }

    private sealed class RerunGraph(Func<Tensor> forward) : IForwardGraph
    {
        public Tensor Replay() => forward();

        public void Dispose()
        {
        }
    }

    private sealed class DoneCopy(Tensor host) : IPendingHostCopy
    {
        public Tensor Wait() => host;
    }
}
