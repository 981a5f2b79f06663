namespace CudaI2V.Server.Jobs;

/// <summary>
/// The jobs of a server and the queue they wait in, as the API and the workers see them. Two implementations: the
/// in-process <see cref="JobManager"/> (one process, one engine) and <c>RedisJobBroker</c> (a Redis stream with a
/// consumer group: one API, many workers; docs/scale-out.md). The API uses the first group of members, a worker
/// <see cref="TakeAsync"/> and the lease it returns.
/// </summary>
public interface IJobBroker : IDisposable
{
    /// <summary>The files of the jobs (the data folder; shared storage when scaled out).</summary>
    JobStore Store { get; }

    /// <summary>The most jobs waiting before a submission is refused.</summary>
    int Capacity { get; }

    /// <summary>Jobs waiting now (the running ones do not count).</summary>
    int QueueLength { get; }

    /// <summary>Why the queue cannot be used now (its broker does not answer), or null when it can.</summary>
    string? Unavailable { get; }

    /// <summary>
    /// Queues a new job, or returns the job of an earlier submission with the same <paramref name="idempotencyKey"/>
    /// (then <c>Created</c> is false and nothing is queued). Throws <see cref="QueueFullException"/> when the queue is full.
    /// </summary>
    (Job Job, bool Created) Submit(JobSettings settings, ReadOnlySpan<byte> image, string? idempotencyKey);

    /// <summary>The job <paramref name="id"/>, or null.</summary>
    Job? Find(string id);

    /// <summary>A page of the jobs, newest first.</summary>
    JobPage List(int offset, int limit);

    /// <summary>How many jobs are in each state.</summary>
    Dictionary<JobState, int> CountByState();

    /// <summary>Cancels job <paramref name="id"/>: a queued one at once, a running one through its engine's cancellation.</summary>
    CancelOutcome Cancel(string id);

    /// <summary>
    /// The job and a task that completes at its next change (never, once it is final). Used by the events stream:
    /// read, send, wait, repeat.
    /// </summary>
    (Job? Job, Task Changed) Watch(string id);

    /// <summary>Waits for the next job to run and marks it running; the lease reports on it and ends it.</summary>
    Task<IJobLease> TakeAsync(CancellationToken cancel);

    /// <summary>Extra gauges for <c>/metrics</c> (the stream's length, live workers...); empty in one process.</summary>
    IReadOnlyList<QueueGauge> Gauges();
}

/// <summary>A job taken by a worker: it reports progress through the lease and ends the job through it.</summary>
public interface IJobLease : IDisposable
{
    /// <summary>The job as it started running.</summary>
    Job Job { get; }

    /// <summary>Signalled when a client cancels the job.</summary>
    CancellationToken Canceled { get; }

    /// <summary>
    /// Signalled when the job is no longer this worker's (another worker re-claimed it, or this worker is being
    /// killed): the worker stops and writes nothing.
    /// </summary>
    CancellationToken Abandoned { get; }

    /// <summary>Where the job is (live only; the record on disk changes with the state).</summary>
    void Report(JobProgress progress);

    /// <summary>
    /// A live change of the record other than progress (the frames decoded so far, the latest preview's step), seen by
    /// readers at once; the record on disk changes with the state.
    /// </summary>
    void Update(Func<Job, Job> change);

    /// <summary>Ends the job with <paramref name="change"/> (a final state): its record is stored, then the job is acknowledged.</summary>
    void Finish(Func<Job, Job> change);

    /// <summary>Puts the job back in the queue (the worker is shutting down cleanly; it runs again later).</summary>
    void Requeue();
}

/// <summary>One gauge of <c>/metrics</c>.</summary>
/// <param name="Name">The metric's name.</param>
/// <param name="Help">What it measures.</param>
/// <param name="Value">Its value now.</param>
public sealed record QueueGauge(string Name, string Help, double Value);
