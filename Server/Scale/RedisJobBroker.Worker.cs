using CudaI2V.Server.Jobs;
using StackExchange.Redis;

namespace CudaI2V.Server.Scale;

/// <summary>
/// The worker's half: a job is taken through the consumer group, first one whose worker stopped heartbeating
/// (<c>XAUTOCLAIM</c> after <see cref="RedisSettings.LostAfter"/>), else a new one (<c>XREADGROUP</c>). A job
/// whose record has already ended is acknowledged without running (idempotent by id); one canceled meanwhile is
/// canceled; one delivered more than <see cref="RedisSettings.MaxDeliveries"/> times is failed with the reason.
/// </summary>
public sealed partial class RedisJobBroker
{
    private string _claimCursor = "0-0";

    /// <summary>Signalled when this queue is killed (tests) or disposed.</summary>
    internal CancellationToken Killed => _killed.Token;

    /// <summary>This worker's consumer name.</summary>
    internal string Me => _settings.WorkerName;

    /// <inheritdoc/>
    public async Task<IJobLease> TakeAsync(CancellationToken cancel)
    {
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancel, _killed.Token);
        while (true)
        {
            either.Token.ThrowIfCancellationRequested();
            try
            {
                if (await TryTake().ConfigureAwait(false) is { } lease)
                {
                    return lease;
                }
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                Complain($"worker {Me}: Redis does not answer ({e.Message}); retrying.");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Complain($"worker {Me}: the data folder cannot be used ({e.Message}); retrying.");
            }

            try
            {
                await _wake.WaitAsync(_settings.Poll, either.Token).ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                throw new OperationCanceledException(either.Token);
            }
        }
    }

    /// <summary>Creates the stream and the consumer group when missing (a first start, or Redis lost its data).</summary>
    internal async Task EnsureGroup()
    {
        try
        {
            await Db.StreamCreateConsumerGroupAsync(StreamKey, Group, "0", createStream: true).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.Contains("BUSYGROUP", StringComparison.Ordinal))
        {
            // It exists.
        }
    }

    /// <summary>Acknowledges a stream entry and takes the job off the queued set.</summary>
    internal void Acknowledge(RedisValue entry, string id)
    {
        var db = Db;
        db.StreamAcknowledge(StreamKey, Group, entry);
        db.SetRemove(QueuedKey, id);
    }

    /// <summary>
    /// Ends the job with <paramref name="final"/> unless another party ended it first; then
    /// acknowledges <paramref name="entry"/>. Returns false when it had already ended (nothing written).
    /// </summary>
    internal bool TryEnd(Job final, RedisValue entry)
    {
        var won = TrySetState(final.Id, final.State, JobState.Queued, JobState.Running, null);
        if (won && Store.Load(final.Id) is not { IsFinal: true })
        {
            Store.Save(final);
            Publish(final);
        }
        else
        {
            won = false;
            Heal(final.Id);
        }

        Acknowledge(entry, final.Id);
        return won;
    }

    /// <summary>Rewrites a record on disk that a late writer left running while Redis says the job ended.</summary>
    internal void Heal(string id)
    {
        if (Find(id) is { IsFinal: true } ended && Store.Load(id) is { IsFinal: false })
        {
            Store.Save(ended);
        }
    }

    internal async Task Heartbeat() =>
        await Db.SortedSetAddAsync(WorkersKey, Me, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()).ConfigureAwait(false);

    private async Task<RedisLease?> TryTake()
    {
        var db = Db;
        await Heartbeat().ConfigureAwait(false);
        StreamEntry entry;
        try
        {
            // XAUTOCLAIM looks at a few pending entries per call: the cursor walks the whole list over the calls.
            var lost = await db.StreamAutoClaimAsync(StreamKey, Group, Me, (long)_settings.LostAfter.TotalMilliseconds, _claimCursor, 1).ConfigureAwait(false);
            _claimCursor = lost.NextStartId.IsNullOrEmpty ? "0-0" : lost.NextStartId.ToString();
            if (lost.ClaimedEntries is [var claimed, ..])
            {
                entry = claimed;
            }
            else if (await db.StreamReadGroupAsync(StreamKey, Group, Me, ">", 1).ConfigureAwait(false) is [var fresh, ..])
            {
                entry = fresh;
            }
            else
            {
                return null;
            }
        }
        catch (RedisServerException e) when (e.Message.StartsWith("NOGROUP", StringComparison.Ordinal))
        {
            await EnsureGroup().ConfigureAwait(false);
            return null;
        }

        var id = (string?)entry["id"];
        var pending = await db.StreamPendingMessagesAsync(StreamKey, Group, 1, Me, entry.Id, entry.Id).ConfigureAwait(false);
        var deliveries = pending is [var info, ..] ? info.DeliveryCount : 1;
        var job = JobStore.IsId(id) ? Store.Load(id!) : null;
        if (job is null || job.IsFinal)
        {
            // Expired or removed, or its result is stored already (a re-delivery): acknowledged without running.
            Acknowledge(entry.Id, id ?? "");
            if (job is not null)
            {
                Heal(job.Id);
                _log?.Invoke($"worker {Me}: job {job.Id} had already {Word(job.State)}; acknowledged without running it again.");
            }

            return null;
        }

        if (await db.KeyExistsAsync(CancelKey(job.Id)).ConfigureAwait(false))
        {
            TryEnd(job with { State = JobState.Canceled, FinishedAt = DateTimeOffset.UtcNow, Progress = null }, entry.Id);
            return null;
        }

        if (deliveries > _settings.MaxDeliveries)
        {
            var reason = $"The job was delivered to workers {deliveries - 1} times and none finished it: each stopped heartbeating for "
                + $"{_settings.LostAfter.TotalSeconds:0.#} s (a crash, a kill, or a lost machine; last: {job.Worker ?? "unknown"}). It is not tried again "
                + $"(--max-deliveries {_settings.MaxDeliveries}); look at the workers' logs, then submit it again.";
            TryEnd(job with { State = JobState.Failed, FinishedAt = DateTimeOffset.UtcNow, Error = reason, Deliveries = deliveries - 1 }, entry.Id);
            _log?.Invoke($"worker {Me}: job {job.Id} failed after {deliveries - 1} deliveries.");
            return null;
        }

        if (!TrySetState(job.Id, JobState.Running, JobState.Queued, JobState.Running, null))
        {
            Acknowledge(entry.Id, job.Id);
            Heal(job.Id);
            return null;
        }

        var running = job with { State = JobState.Running, StartedAt = DateTimeOffset.UtcNow, Progress = null, Error = null, Worker = Me, Deliveries = deliveries };
        Store.Save(running);
        await db.SetRemoveAsync(QueuedKey, job.Id).ConfigureAwait(false);
        Publish(running);
        if (deliveries > 1)
        {
            _log?.Invoke($"worker {Me}: re-claimed job {job.Id} from a lost worker (delivery {deliveries}).");
        }

        return new RedisLease(this, running, entry.Id, _settings.Tick);
    }
}
