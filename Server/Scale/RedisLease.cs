using System.Diagnostics;
using CudaI2V.Server.Jobs;
using StackExchange.Redis;

namespace CudaI2V.Server.Scale;

/// <summary>
/// A job a worker took from the stream. While it runs, a tick (<see cref="RedisSettings.Tick"/>) heartbeats (it
/// claims its own pending entry again with <c>XCLAIM ... JUSTID</c>, which resets the entry's idle time without
/// counting a delivery) and looks for a cancel request. When the entry is no longer this worker's (another worker
/// re-claimed it, or Redis lost it and the job was added again), the lease is abandoned: the worker stops and
/// writes nothing. Progress goes to the job's live status, at most every 250 ms or at each new step.
/// </summary>
internal sealed class RedisLease : IJobLease
{
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromMilliseconds(250);

    private readonly RedisJobBroker _queue;
    private readonly RedisValue _entry;
    private readonly CancellationTokenSource _canceled = new();
    private readonly CancellationTokenSource _abandoned;
    private readonly CancellationTokenSource _ended = new();
    private readonly Task _ticking;
    private readonly Stopwatch _sincePublished = Stopwatch.StartNew();
    private readonly Lock _lock = new();
    private Job _job;
    private (string Stage, int Step) _published;

    public RedisLease(RedisJobBroker queue, Job job, RedisValue entry, TimeSpan tick)
    {
        _queue = queue;
        _entry = entry;
        _job = job;
        Job = job;
        _abandoned = CancellationTokenSource.CreateLinkedTokenSource(queue.Killed);
        _ticking = Task.Run(() => Tick(tick));
    }

    public Job Job { get; }

    public CancellationToken Canceled => _canceled.Token;

    public CancellationToken Abandoned => _abandoned.Token;

    public void Report(JobProgress progress)
    {
        Job now;
        lock (_lock)
        {
            _job = _job with { Progress = progress };
            var key = (progress.Stage, progress.Step);
            if (key == _published && _sincePublished.Elapsed < ProgressEvery)
            {
                return;
            }

            (_published, now) = (key, _job);
            _sincePublished.Restart();
        }

        try
        {
            _queue.Publish(now, CommandFlags.FireAndForget);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            _queue.Complain($"worker {_queue.Me}: cannot publish progress ({e.Message}).");
        }
    }

    public void Update(Func<Job, Job> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        Job now;
        lock (_lock)
        {
            _job = change(_job);
            now = _job;
        }

        // Frames and previews are a few per job: each is published at once, unlike progress.
        try
        {
            _queue.Publish(now, CommandFlags.FireAndForget);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            _queue.Complain($"worker {_queue.Me}: cannot publish the job's frames ({e.Message}).");
        }
    }

    public void Finish(Func<Job, Job> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        StopTicking();
        Job final;
        lock (_lock)
        {
            final = change(_job);
        }

        // The result is on disk already (the worker wrote the video); the record and the acknowledgement need Redis:
        // wait for it, unless this worker is killed meanwhile (then another worker takes the job over).
        Retry(() =>
        {
            if (!_queue.TryEnd(final, _entry))
            {
                _queue.Complain($"worker {_queue.Me}: job {final.Id} had been ended elsewhere; this run's result was not recorded again.");
            }
        });
    }

    public void Requeue()
    {
        StopTicking();
        Retry(() =>
        {
            // A clean stop: the job goes back to the queue as a new entry (its deliveries start again), then the old one is acknowledged.
            if (_queue.TrySetState(Job.Id, JobState.Queued, JobState.Running, null))
            {
                var queued = Job with { State = JobState.Queued, StartedAt = null, Progress = null, Worker = null };
                _queue.Store.Save(queued);
                _queue.Enqueue(queued);
            }

            _queue.Acknowledge(_entry, Job.Id);
        });
    }

    public void Dispose()
    {
        StopTicking();
        _canceled.Dispose();
        _abandoned.Dispose();
        _ended.Dispose();
    }

    private void StopTicking()
    {
        if (!_ended.IsCancellationRequested)
        {
            _ended.Cancel();
            _ticking.Wait(TimeSpan.FromSeconds(30));
        }
    }

    private void Retry(Action action)
    {
        for (var attempt = 0; !_abandoned.IsCancellationRequested; attempt++)
        {
            try
            {
                action();
                return;
            }
            catch (Exception e) when (e is RedisException or TimeoutException or IOException or UnauthorizedAccessException)
            {
                _queue.Complain($"worker {_queue.Me}: cannot store the end of job {Job.Id} ({e.Message}); retrying.");
                _abandoned.Token.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(Math.Min(2000, 100 << Math.Min(attempt, 5))));
            }
        }
    }

    private async Task Tick(TimeSpan every)
    {
        using var either = CancellationTokenSource.CreateLinkedTokenSource(_ended.Token, _abandoned.Token);
        var db = _queue.Db;
        while (!either.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(every, either.Token).ConfigureAwait(false);
                var owner = await db.StreamPendingMessagesAsync(_queue.StreamKey, "workers", 1, RedisValue.Null, _entry, _entry).ConfigureAwait(false);
                if (owner is not [var pending, ..] || pending.ConsumerName != _queue.Me)
                {
                    _queue.Heal(Job.Id);
                    await _abandoned.CancelAsync().ConfigureAwait(false);
                    return;
                }

                await db.StreamClaimIdsOnlyAsync(_queue.StreamKey, "workers", _queue.Me, 0, [_entry]).ConfigureAwait(false);
                await _queue.Heartbeat().ConfigureAwait(false);
                if (await db.KeyExistsAsync(_queue.CancelKey(Job.Id)).ConfigureAwait(false))
                {
                    await _canceled.CancelAsync().ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (RedisServerException e) when (e.Message.StartsWith("NOGROUP", StringComparison.Ordinal))
            {
                // Redis lost the stream: the API adds the job again from its record; this run is no longer the one.
                await _abandoned.CancelAsync().ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                _queue.Complain($"worker {_queue.Me}: heartbeat failed ({e.Message}); retrying.");
            }
        }
    }
}
