namespace CudaI2V.Server.Jobs;

/// <summary>The queue is full; the client should retry later (503 with Retry-After).</summary>
public sealed class QueueFullException : Exception
{
    /// <summary>Creates the exception for a queue of <paramref name="capacity"/> jobs.</summary>
    public QueueFullException(int capacity)
        : base($"The queue is full ({capacity} jobs waiting); retry later.") => Capacity = capacity;

    /// <summary>Creates the exception.</summary>
    public QueueFullException()
        : base("The queue is full; retry later.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public QueueFullException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public QueueFullException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>The queue's capacity.</summary>
    public int Capacity { get; }
}

/// <summary>What a cancel request did.</summary>
public enum CancelOutcome
{
    /// <summary>No such job.</summary>
    NotFound,

    /// <summary>A queued job was canceled at once.</summary>
    Canceled,

    /// <summary>A running job was asked to stop; the engine stops between steps.</summary>
    Stopping,

    /// <summary>The job had already ended.</summary>
    AlreadyFinal,
}

/// <summary>
/// Every job of the server: the records (kept by <see cref="JobStore"/>), the bounded queue in submission order, the
/// idempotency keys, and a change signal per job for live progress. One lock guards it all; the worker takes jobs
/// with <see cref="TakeAsync"/>. Jobs found running when the server starts were interrupted by a crash: they are
/// marked failed. Queued ones run again, in their order.
/// </summary>
public sealed class JobManager : IJobBroker
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _jobs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _byKey = new(StringComparer.Ordinal);
    private readonly LinkedList<string> _queue = new();
    private readonly SemaphoreSlim _queued = new(0);

    /// <summary>Loads the jobs of <paramref name="store"/>; <paramref name="capacity"/> bounds the queue for new submissions.</summary>
    public JobManager(JobStore store, int capacity, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Store = store;
        Capacity = capacity;
        foreach (var loaded in store.LoadAll(log))
        {
            var job = loaded;
            if (job.State == JobState.Running)
            {
                job = job with
                {
                    State = JobState.Failed,
                    FinishedAt = DateTimeOffset.UtcNow,
                    Error = "The server stopped while this job was running (a crash or a kill); no video was kept. Submit it again.",
                };
                store.DeleteOutputs(job.Id);
                store.Save(job);
                log?.Invoke($"job {job.Id} was running when the server stopped; marked failed.");
            }

            _jobs[job.Id] = new Entry(job);
            if (job.IdempotencyKey is not null)
            {
                _byKey[job.IdempotencyKey] = job.Id;
            }

            if (job.State == JobState.Queued)
            {
                _queue.AddLast(job.Id);
                _queued.Release();
            }
        }
    }

    /// <summary>The files of the jobs.</summary>
    public JobStore Store { get; }

    /// <summary>The most jobs waiting before a submission is refused.</summary>
    public int Capacity { get; }

    /// <inheritdoc/>
    public string? Unavailable => null;

    /// <summary>Jobs waiting now.</summary>
    public int QueueLength
    {
        get
        {
            lock (_lock)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>
    /// Queues a new job, or returns the job of an earlier submission with the same <paramref name="idempotencyKey"/>
    /// (then <c>Created</c> is false and nothing is queued). Throws <see cref="QueueFullException"/> when the queue is full.
    /// </summary>
    public (Job Job, bool Created) Submit(JobSettings settings, ReadOnlySpan<byte> image, string? idempotencyKey)
    {
        ArgumentNullException.ThrowIfNull(settings);
        lock (_lock)
        {
            if (idempotencyKey is not null && _byKey.TryGetValue(idempotencyKey, out var existing))
            {
                return (_jobs[existing].Job, false);
            }

            if (_queue.Count >= Capacity)
            {
                throw new QueueFullException(Capacity);
            }

            var job = new Job { Id = JobStore.NewId(), State = JobState.Queued, Settings = settings, CreatedAt = DateTimeOffset.UtcNow, IdempotencyKey = idempotencyKey };
            Store.Create(job, image);
            _jobs[job.Id] = new Entry(job);
            if (idempotencyKey is not null)
            {
                _byKey[idempotencyKey] = job.Id;
            }

            _queue.AddLast(job.Id);
            _queued.Release();
            return (job, true);
        }
    }

    /// <summary>The job <paramref name="id"/>, or null.</summary>
    public Job? Find(string id)
    {
        lock (_lock)
        {
            return _jobs.TryGetValue(id, out var entry) ? entry.Job : null;
        }
    }

    /// <summary>A page of the jobs, newest first.</summary>
    public JobPage List(int offset, int limit)
    {
        lock (_lock)
        {
            var page = _jobs.Values.Select(e => e.Job).OrderByDescending(j => j.CreatedAt).ThenByDescending(j => j.Id, StringComparer.Ordinal).Skip(offset).Take(limit).ToList();
            return new JobPage(page, _jobs.Count, offset, limit);
        }
    }

    /// <summary>How many jobs are in each state.</summary>
    public Dictionary<JobState, int> CountByState()
    {
        lock (_lock)
        {
            var counts = Enum.GetValues<JobState>().ToDictionary(s => s, _ => 0);
            foreach (var entry in _jobs.Values)
            {
                counts[entry.Job.State]++;
            }

            return counts;
        }
    }

    /// <summary>Cancels job <paramref name="id"/>: a queued one at once, a running one through the engine's cancellation.</summary>
    public CancelOutcome Cancel(string id)
    {
        lock (_lock)
        {
            if (!_jobs.TryGetValue(id, out var entry))
            {
                return CancelOutcome.NotFound;
            }

            switch (entry.Job.State)
            {
                case JobState.Queued:
                    _queue.Remove(id);
                    SetLocked(entry, entry.Job with { State = JobState.Canceled, FinishedAt = DateTimeOffset.UtcNow }, persist: true);
                    return CancelOutcome.Canceled;
                case JobState.Running:
                    entry.Cancellation?.Cancel();
                    return CancelOutcome.Stopping;
                default:
                    return CancelOutcome.AlreadyFinal;
            }
        }
    }

    /// <summary>Waits for the next queued job and marks it running; its lease's <c>Canceled</c> is a client's cancel.</summary>
    public async Task<IJobLease> TakeAsync(CancellationToken cancel)
    {
        while (true)
        {
            await _queued.WaitAsync(cancel).ConfigureAwait(false);
            lock (_lock)
            {
                // A job canceled while queued left the queue but not the semaphore's count: skip its release.
                if (_queue.First is not { } first)
                {
                    continue;
                }

                _queue.RemoveFirst();
                var entry = _jobs[first.Value];
                entry.Cancellation?.Dispose();
                entry.Cancellation = new CancellationTokenSource();
                SetLocked(entry, entry.Job with { State = JobState.Running, StartedAt = DateTimeOffset.UtcNow, Progress = null, Error = null }, persist: true);
                return new LocalLease(this, entry.Job, entry.Cancellation.Token);
            }
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<QueueGauge> Gauges() => [];

    /// <summary>
    /// Puts a running job back at the head of the queue (the server is shutting down; it runs after the restart).
    /// </summary>
    public void Requeue(string id)
    {
        lock (_lock)
        {
            var entry = _jobs[id];
            _queue.AddFirst(id);
            _queued.Release();
            SetLocked(entry, entry.Job with { State = JobState.Queued, StartedAt = null, Progress = null, FramesReady = 0, PreviewStep = 0 }, persist: true);
        }
    }

    /// <summary>Applies <paramref name="change"/> to job <paramref name="id"/>; the record is written when <paramref name="persist"/>.</summary>
    public Job Update(string id, Func<Job, Job> change, bool persist)
    {
        ArgumentNullException.ThrowIfNull(change);
        lock (_lock)
        {
            var entry = _jobs[id];
            SetLocked(entry, change(entry.Job), persist);
            return entry.Job;
        }
    }

    /// <summary>
    /// The job and a task that completes at its next change (never, once it is final). Used by the events stream:
    /// read, send, wait, repeat.
    /// </summary>
    public (Job? Job, Task Changed) Watch(string id)
    {
        lock (_lock)
        {
            return _jobs.TryGetValue(id, out var entry) ? (entry.Job, entry.Changed.Task) : (null, Task.CompletedTask);
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var entry in _jobs.Values)
            {
                entry.Cancellation?.Dispose();
            }
        }

        _queued.Dispose();
    }

    private void SetLocked(Entry entry, Job job, bool persist)
    {
        entry.Job = job;
        if (persist)
        {
            Store.Save(job);
        }

        var changed = entry.Changed;
        entry.Changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
    }

    private sealed class Entry(Job job)
    {
        public Job Job { get; set; } = job;

        public TaskCompletionSource Changed { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationTokenSource? Cancellation { get; set; }
    }
}
