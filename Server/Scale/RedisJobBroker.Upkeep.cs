using CudaI2V.Server.Jobs;
using StackExchange.Redis;

namespace CudaI2V.Server.Scale;

/// <summary>
/// The API's upkeep, every <see cref="RedisSettings.Upkeep"/>: when Redis has lost its data (restarted without
/// persistence, or a first start) the queued jobs are added again from their records under the data folder; the
/// stream is trimmed below its oldest entry still unacknowledged; ended jobs older than the retention are removed
/// (their records and files; their Redis keys expire by themselves); workers not heard from are forgotten.
/// </summary>
public sealed partial class RedisJobBroker
{
    /// <summary>How long a queue place may be held by an id with no job record before the upkeep frees it.</summary>
    internal static readonly TimeSpan RecordlessGrace = TimeSpan.FromSeconds(10);

    /// <summary>Queue places seen held by an id with no record, and when first seen so.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DateTimeOffset> _recordless = new(StringComparer.Ordinal);

    /// <summary>Runs the upkeep until <paramref name="stop"/>; Redis being away is reported and waited for.</summary>
    public async Task RunUpkeepAsync(CancellationToken stop)
    {
        using var either = CancellationTokenSource.CreateLinkedTokenSource(stop, _killed.Token);
        while (!either.IsCancellationRequested)
        {
            try
            {
                await UpkeepOnce().ConfigureAwait(false);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                Complain($"Redis does not answer ({e.Message}); retrying.");
            }
            catch (IOException e)
            {
                Complain($"upkeep of the data folder failed: {e.Message}");
            }

            try
            {
                await Task.Delay(_settings.Upkeep, either.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One round of the upkeep.</summary>
    internal async Task UpkeepOnce()
    {
        var db = Db;
        await EnsureGroup().ConfigureAwait(false);
        if (!await db.KeyExistsAsync(AliveKey).ConfigureAwait(false)
            && await db.StringSetAsync(AliveKey, DateTimeOffset.UtcNow.ToString("O"), when: When.NotExists).ConfigureAwait(false))
        {
            Recover();
        }

        await Trim(db).ConfigureAwait(false);
        Expire(db);
        var now = DateTimeOffset.UtcNow;
        var members = await db.SetMembersAsync(QueuedKey).ConfigureAwait(false);
        foreach (var member in members)
        {
            // A place held by a job that is no longer waiting (a worker lost between taking it and saying so) is freed;
            // so is one whose job never came to exist (a submission whose reservation's reply was lost, say under a
            // Redis timeout), once it has had no record for a whole grace period (a submission writes its record just
            // after reserving its place).
            var id = member.ToString();
            var record = JobStore.IsId(id) ? Store.Load(id) : null;
            var orphan = record is null && _recordless.GetOrAdd(id, now) < now - RecordlessGrace;
            if (!JobStore.IsId(id) || record is { State: not JobState.Queued } || orphan)
            {
                await db.SetRemoveAsync(QueuedKey, member).ConfigureAwait(false);
                _recordless.TryRemove(id, out _);
            }
            else if (record is not null)
            {
                _recordless.TryRemove(id, out _);
            }
        }

        foreach (var gone in _recordless.Keys.Except(members.Select(m => m.ToString())))
        {
            _recordless.TryRemove(gone, out _);
        }

        await db.SortedSetRemoveRangeByScoreAsync(WorkersKey, double.NegativeInfinity, now.ToUnixTimeMilliseconds() - (10 * _settings.LostAfter.TotalMilliseconds)).ConfigureAwait(false);
    }

    /// <summary>Redis knows nothing of this deployment: index every record again and queue again the jobs not ended.</summary>
    private void Recover()
    {
        var db = Db;
        var added = 0;
        foreach (var job in Store.LoadAll(_log))
        {
            db.SortedSetAdd(IndexKey, job.Id, job.CreatedAt.ToUnixTimeMilliseconds());
            // A job Redis still knows (its state, or its place in the queue reserved before its record was written) is
            // live in this cluster: enqueuing it again would deliver it twice. That is the case when this round runs
            // beside the cluster's first submissions (Redis empty of the marker, not of the jobs).
            if (job.IsFinal || db.KeyExists(StateKey(job.Id)) || db.SetContains(QueuedKey, job.Id))
            {
                continue;
            }

            // A job recorded running lost its entry with Redis; its worker, if alive, finds its entry gone and stops.
            var queued = job.State == JobState.Queued ? job : job with { State = JobState.Queued, StartedAt = null, Progress = null };
            if (queued != job)
            {
                Store.Save(queued);
            }

            Enqueue(queued);
            added++;
        }

        if (added > 0)
        {
            _log?.Invoke($"Redis had no record of the queue (a first start, or Redis restarted without its data): added {added} jobs again from {Store.Root}.");
        }
    }

    /// <summary>Removes the stream's entries below the oldest one still needed (pending, or not yet delivered).</summary>
    private async Task Trim(IDatabase db)
    {
        var groups = await db.StreamGroupInfoAsync(StreamKey).ConfigureAwait(false);
        var group = groups.FirstOrDefault(g => g.Name == Group);
        if (group.Name is null || group.LastDeliveredId is not { } delivered)
        {
            return;
        }

        var pending = await db.StreamPendingAsync(StreamKey, Group).ConfigureAwait(false);
        var safe = pending.PendingMessageCount > 0 && Earlier(pending.LowestPendingMessageId.ToString(), delivered) ? pending.LowestPendingMessageId.ToString() : delivered;
        Volatile.Write(ref _safeMinId, safe);
        await db.StreamTrimByMinIdAsync(StreamKey, safe).ConfigureAwait(false);
    }

    /// <summary>Removes ended jobs whose retention is over (at most 200 a round).</summary>
    private void Expire(IDatabase db)
    {
        var cutoff = DateTimeOffset.UtcNow - _settings.Retention;
        foreach (var value in db.SortedSetRangeByScore(IndexKey, double.NegativeInfinity, cutoff.ToUnixTimeMilliseconds(), take: 200))
        {
            var id = value.ToString();
            var job = JobStore.IsId(id) ? Store.Load(id) : null;
            if (job is null || (job.IsFinal && job.FinishedAt is { } finished && finished < cutoff))
            {
                if (job is not null)
                {
                    Store.Delete(id);
                }

                db.SortedSetRemove(IndexKey, id);
                db.KeyDelete([JobKey(id), StateKey(id), CancelKey(id)]);
            }
        }
    }

    /// <summary>True when stream id <paramref name="a"/> comes before <paramref name="b"/>.</summary>
    private static bool Earlier(string a, string b)
    {
        static (ulong, ulong) Parse(string id)
        {
            var dash = id.IndexOf('-', StringComparison.Ordinal);
            return dash < 0 ? (ulong.Parse(id, System.Globalization.CultureInfo.InvariantCulture), 0) : (ulong.Parse(id[..dash], System.Globalization.CultureInfo.InvariantCulture), ulong.Parse(id[(dash + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        }

        return Parse(a).CompareTo(Parse(b)) < 0;
    }
}
