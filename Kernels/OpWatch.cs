namespace CudaI2V.Kernels;

/// <summary>
/// What a backend checks between ops while a piece of work runs (<see cref="IOps.Watch"/>): whether the work was
/// cancelled, and a count of the ops started, from which the engine reports progress inside a long step.
/// </summary>
/// <remarks>
/// A backend that computes as it is called (the CPU) calls <see cref="OpStarting"/> as each op starts and stops its long
/// loops when <see cref="Cancellation"/> is cancelled, so a cancelled forward ends within one op's slice of work. A
/// backend that queues work and returns at once (the GPU) has nothing to check per op: the engine checks between steps.
/// </remarks>
public sealed class OpWatch
{
    private readonly Action? _opStarted;
    private long _ops;

    /// <summary>Creates a watch; <paramref name="opStarted"/> runs on the calling thread as each op starts.</summary>
    public OpWatch(CancellationToken cancellation, Action? opStarted = null)
    {
        Cancellation = cancellation;
        _opStarted = opStarted;
    }

    /// <summary>Cancels the work being watched.</summary>
    public CancellationToken Cancellation { get; }

    /// <summary>How many ops have started under this watch.</summary>
    public long OpsStarted => Interlocked.Read(ref _ops);

    /// <summary>
    /// Called by a backend as an op starts: throws <see cref="OperationCanceledException"/> when the work was cancelled,
    /// else counts the op.
    /// </summary>
    public void OpStarting()
    {
        Cancellation.ThrowIfCancellationRequested();
        Interlocked.Increment(ref _ops);
        _opStarted?.Invoke();
    }
}
