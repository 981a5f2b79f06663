using System.Collections.Concurrent;
using System.Text.Json;
using CudaI2V.Server.Jobs;
using StackExchange.Redis;

namespace CudaI2V.Server.Scale;

/// <summary>
/// The jobs of a scaled-out server (docs/scale-out.md): the records and files stay under the data folder (shared
/// storage, the source of truth), and Redis holds the stream of jobs to run with its consumer group, each job's live
/// status (with the retention as its time to live), its state word (changed only by compare-and-set, so one party
/// ends a job), the queued set that bounds the queue, cancel requests, the index that lists jobs, and a channel per
/// job for its events. The API uses this half; the worker's half (taking, heartbeating, re-claiming, ending) and the
/// API's upkeep (re-adding after a Redis loss, trimming, expiry) are the other parts of this class.
/// </summary>
public sealed partial class RedisJobBroker : IJobBroker
{
    private const string Group = "workers";

    /// <summary>Sets KEYS[1] to ARGV[1] (time to live ARGV[2] ms) when its value is one of ARGV[3..] ('' for none); 1 when set.</summary>
    private const string CompareAndSet = """
        local v = redis.call('GET', KEYS[1])
        if v == false then v = '' end
        for i = 3, #ARGV do
          if v == ARGV[i] then
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
            return 1
          end
        end
        return 0
        """;

    /// <summary>Adds ARGV[2] to the queued set KEYS[1] unless it holds ARGV[1] members already; 1 when added.</summary>
    private const string Reserve = """
        if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
        redis.call('SADD', KEYS[1], ARGV[2])
        return 1
        """;

    private readonly ConnectionMultiplexer _redis;
    private readonly RedisSettings _settings;
    private readonly Action<string>? _log;
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _watchers = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _killed = new();
    private long _lastComplaint;
    private string _safeMinId = "0-0";

    private RedisJobBroker(JobStore store, int capacity, RedisSettings settings, ConnectionMultiplexer redis, Action<string>? log)
    {
        Store = store;
        Capacity = capacity;
        _settings = settings;
        _redis = redis;
        _log = log;
        var p = settings.Prefix;
        (StreamKey, QueuedKey, IndexKey, WorkersKey, AliveKey) = ($"{p}:stream", $"{p}:queued", $"{p}:index", $"{p}:workers", $"{p}:alive");
        _ = Task.Run(Subscribe);
    }

    /// <inheritdoc/>
    public JobStore Store { get; }

    /// <inheritdoc/>
    public int Capacity { get; }

    /// <summary>The settings.</summary>
    public RedisSettings Settings => _settings;

    /// <inheritdoc/>
    public int QueueLength => _redis.IsConnected ? (int)Db.SetLength(QueuedKey) : 0;

    /// <inheritdoc/>
    public string? Unavailable => _redis.IsConnected ? null : $"Redis at {_settings.Endpoint} does not answer; the server keeps trying to reconnect.";

    internal IDatabase Db => _redis.GetDatabase();

    internal RedisKey StreamKey { get; }

    internal RedisKey QueuedKey { get; }

    internal RedisKey IndexKey { get; }

    internal RedisKey WorkersKey { get; }

    internal RedisKey AliveKey { get; }

    private long RetentionMs => (long)_settings.Retention.TotalMilliseconds;

    /// <summary>
    /// Connects to Redis (or keeps trying in the background: every role waits for Redis at start; calls fail with a
    /// <see cref="RedisException"/> until it answers).
    /// </summary>
    public static async Task<RedisJobBroker> ConnectAsync(JobStore store, int capacity, RedisSettings settings, Action<string>? log)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        var redis = await ConnectionMultiplexer.ConnectAsync(settings.Options()).ConfigureAwait(false);
        if (!redis.IsConnected)
        {
            log?.Invoke($"Redis at {settings.Endpoint} does not answer yet; retrying until it does.");
        }

        return new RedisJobBroker(store, capacity, settings, redis, log);
    }

    /// <inheritdoc/>
    public (Job Job, bool Created) Submit(JobSettings settings, ReadOnlySpan<byte> image, string? idempotencyKey)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var db = Db;
        string? keyKey = idempotencyKey is null ? null : $"{_settings.Prefix}:idem:{idempotencyKey}";
        if (keyKey is { } k && (string?)db.StringGet(k) is { } earlier && Find(earlier) is { } first)
        {
            return (first, false);
        }

        var job = new Job { Id = JobStore.NewId(), State = JobState.Queued, Settings = settings, CreatedAt = DateTimeOffset.UtcNow, IdempotencyKey = idempotencyKey };
        int reserved;
        try
        {
            reserved = (int)db.ScriptEvaluate(Reserve, [QueuedKey], [Capacity, job.Id]);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            // The reply was lost, not necessarily the command: a place reserved for a job that will never exist is freed.
            Withdraw(job.Id);
            throw;
        }

        if (reserved != 1)
        {
            throw new QueueFullException(Capacity);
        }

        try
        {
            Store.Create(job, image);
            if (keyKey is { } key && !db.StringSet(key, job.Id, _settings.Retention, When.NotExists))
            {
                // Another submission with the same key won the race: that job is the one.
                Withdraw(job.Id);
                var winner = (string?)db.StringGet(key);
                return (winner is null ? null : Find(winner)) is { } won ? (won, false) : throw new QueueFullException("The same Idempotency-Key is being submitted at once; retry.");
            }

            Enqueue(job);
            return (job, true);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or IOException)
        {
            // Nothing half-queued stays behind: the place in the queue and the files go.
            Withdraw(job.Id);
            throw;
        }
    }

    /// <inheritdoc/>
    public Job? Find(string id)
    {
        var json = (byte[]?)Db.StringGet(JobKey(id));
        return json is not null ? Parse(json) ?? Store.Load(id) : Store.Load(id);
    }

    /// <inheritdoc/>
    public JobPage List(int offset, int limit)
    {
        var db = Db;
        var total = db.SortedSetLength(IndexKey);
        var ids = db.SortedSetRangeByRank(IndexKey, offset, offset + limit - 1, Order.Descending).Select(v => v.ToString()).ToArray();
        return new JobPage([.. GetMany(ids)], (int)Math.Min(total, int.MaxValue), offset, limit);
    }

    /// <inheritdoc/>
    public Dictionary<JobState, int> CountByState()
    {
        var counts = Enum.GetValues<JobState>().ToDictionary(s => s, _ => 0);
        if (!_redis.IsConnected)
        {
            // /metrics still answers while Redis is away, with cudai2v_redis_up 0.
            return counts;
        }

        var ids = Db.SortedSetRangeByRank(IndexKey).Select(v => v.ToString()).ToArray();
        foreach (var chunk in ids.Chunk(500))
        {
            foreach (var job in GetMany(chunk))
            {
                counts[job.State]++;
            }
        }

        return counts;
    }

    /// <inheritdoc/>
    public CancelOutcome Cancel(string id)
    {
        var job = Find(id);
        if (job is null)
        {
            return CancelOutcome.NotFound;
        }

        if (job.IsFinal)
        {
            return CancelOutcome.AlreadyFinal;
        }

        // The request first: whichever worker holds the job (or takes it next) sees it.
        var db = Db;
        db.StringSet(CancelKey(id), 1, _settings.Retention);
        if (TrySetState(id, JobState.Canceled, JobState.Queued))
        {
            var canceled = (Store.Load(id) ?? job) with { State = JobState.Canceled, FinishedAt = DateTimeOffset.UtcNow, Progress = null };
            Store.Save(canceled);
            db.SetRemove(QueuedKey, id);
            Publish(canceled);
            return CancelOutcome.Canceled;
        }

        return StateWord(id) is "succeeded" or "failed" or "canceled" ? CancelOutcome.AlreadyFinal : CancelOutcome.Stopping;
    }

    /// <inheritdoc/>
    public (Job? Job, Task Changed) Watch(string id)
    {
        var changed = _watchers.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        var json = (byte[]?)Db.StringGet(JobKey(id));
        var job = (json is null ? null : Parse(json)) ?? Store.Load(id);
        if (job is null || job.IsFinal)
        {
            _watchers.TryRemove(new KeyValuePair<string, TaskCompletionSource>(id, changed));
            return (job, changed.Task);
        }

        // The channel says when it changes; a slow look at the record covers a message lost while Redis was away.
        return (job, Task.WhenAny(changed.Task, LookForChange(id, json, changed.Task)));
    }

    /// <inheritdoc/>
    public IReadOnlyList<QueueGauge> Gauges()
    {
        var db = Db;
        var up = _redis.IsConnected;
        var gauges = new List<QueueGauge> { new("cudai2v_redis_up", "1 while Redis answers, else 0.", up ? 1 : 0) };
        if (up)
        {
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            gauges.Add(new("cudai2v_workers", "Workers that heartbeated within the lost-worker timeout.", db.SortedSetLength(WorkersKey, now - _settings.LostAfter.TotalMilliseconds, double.PositiveInfinity)));
            gauges.Add(new("cudai2v_stream_length", "Entries in the job stream (trimmed below the oldest unacknowledged one).", db.KeyExists(StreamKey) ? db.StreamLength(StreamKey) : 0));
            gauges.Add(new("cudai2v_stream_pending", "Jobs delivered to a worker and not yet acknowledged (running, or held by a lost worker).", PendingCount(db)));
        }

        return gauges;
    }

    /// <summary>Ends this queue as if its process were killed: no heartbeat, no record written, nothing acknowledged (tests).</summary>
    internal void Kill() => _killed.Cancel();

    /// <inheritdoc/>
    public void Dispose()
    {
        _killed.Cancel();
        _redis.Dispose();
        _wake.Dispose();
        _killed.Dispose();
    }

    internal RedisKey JobKey(string id) => $"{_settings.Prefix}:job:{id}";

    internal RedisKey StateKey(string id) => $"{_settings.Prefix}:state:{id}";

    internal RedisKey CancelKey(string id) => $"{_settings.Prefix}:cancel:{id}";

    internal RedisChannel EventsChannel(string id) => RedisChannel.Literal($"{_settings.Prefix}:events:{id}");

    internal RedisChannel WakeChannel => RedisChannel.Literal($"{_settings.Prefix}:wake");

    /// <summary>Sets job <paramref name="id"/>'s state word to <paramref name="to"/> when it is one of <paramref name="from"/> (null: no word, as after a Redis loss).</summary>
    internal bool TrySetState(string id, JobState to, params JobState?[] from)
    {
        RedisValue[] args = [Word(to), RetentionMs, .. from.Select(s => (RedisValue)(s is { } state ? Word(state) : ""))];
        return (int)Db.ScriptEvaluate(CompareAndSet, [StateKey(id)], args) == 1;
    }

    internal string? StateWord(string id) => Db.StringGet(StateKey(id));

    /// <summary>Stores job's live status (with the retention as its time to live) and tells its watchers.</summary>
    internal void Publish(Job job, CommandFlags flags = CommandFlags.None)
    {
        var db = Db;
        db.StringSet(JobKey(job.Id), JsonSerializer.SerializeToUtf8Bytes(job, ServerJson.Default.Job), _settings.Retention, flags: flags);
        _redis.GetSubscriber().Publish(EventsChannel(job.Id), job.State.ToString(), flags);
    }

    /// <summary>Puts a queued job's status in Redis and its entry in the stream (trimmed below the oldest entry still needed).</summary>
    internal void Enqueue(Job job)
    {
        var db = Db;
        db.StringSet(StateKey(job.Id), Word(JobState.Queued), _settings.Retention);
        db.SetAdd(QueuedKey, job.Id);
        db.SortedSetAdd(IndexKey, job.Id, job.CreatedAt.ToUnixTimeMilliseconds());
        Publish(job);
        db.Execute("XADD", StreamKey, "MINID", "~", Volatile.Read(ref _safeMinId), "*", "id", job.Id);
        _redis.GetSubscriber().Publish(WakeChannel, job.Id, CommandFlags.FireAndForget);
    }

    internal static string Word(JobState state) => state.ToString().ToLowerInvariant();

    private long PendingCount(IDatabase db)
    {
        try
        {
            return db.StreamPending(StreamKey, Group).PendingMessageCount;
        }
        catch (RedisServerException)
        {
            return 0;
        }
    }

    private static Job? Parse(byte[] json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, ServerJson.Default.Job);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private List<Job> GetMany(string[] ids)
    {
        var values = ids.Length == 0 ? [] : Db.StringGet([.. ids.Select(JobKey)]);
        var jobs = new List<Job>(ids.Length);
        for (var i = 0; i < ids.Length; i++)
        {
            var job = (values[i].HasValue ? Parse((byte[])values[i]!) : null) ?? (JobStore.IsId(ids[i]) ? Store.Load(ids[i]) : null);
            if (job is not null)
            {
                jobs.Add(job);
            }
        }

        return jobs;
    }

    private void Withdraw(string id)
    {
        try
        {
            Store.Delete(id);
            Db.SetRemove(QueuedKey, id);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or IOException)
        {
            Complain($"could not withdraw the failed submission {id}: {e.Message}");
        }
    }
}
