using StackExchange.Redis;

namespace CudaI2V.Server.Scale;

/// <summary>
/// The signals between the parts: a worker is woken by a new-job message (else it polls), an events stream by its
/// job's channel (else, should a message be lost while Redis was away, by a slow look at the status), and the log
/// hears of a Redis outage at most once per 10 s.
/// </summary>
public sealed partial class RedisJobBroker
{
    internal void Complain(string what)
    {
        // One line per 10 s at most: a Redis outage must not flood the log.
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastComplaint);
        if (now - last > 10_000 && Interlocked.CompareExchange(ref _lastComplaint, now, last) == last)
        {
            _log?.Invoke(what);
        }
    }

    private void Wake()
    {
        try
        {
            // One pending signal is enough: a worker that wakes reads whatever is waiting.
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (ObjectDisposedException)
        {
            // Closed meanwhile.
        }
    }

    private async Task LookForChange(string id, byte[]? seen, Task changed)
    {
        for (var i = 0; i < 30 && !changed.IsCompleted && !_killed.IsCancellationRequested; i++)
        {
            await Task.WhenAny(changed, Task.Delay(1000)).ConfigureAwait(false);
            var now = changed.IsCompleted ? null : (byte[]?)await Db.StringGetAsync(JobKey(id)).ConfigureAwait(false);
            if (now is not null && (seen is null || !now.AsSpan().SequenceEqual(seen)))
            {
                return;
            }
        }
    }

    private async Task Subscribe()
    {
        var subscriber = _redis.GetSubscriber();
        for (var attempt = 0; !_killed.IsCancellationRequested; attempt++)
        {
            try
            {
                // The client subscribes again by itself after a reconnect.
                await subscriber.SubscribeAsync(RedisChannel.Pattern($"{_settings.Prefix}:events:*"), (channel, _) =>
                {
                    var name = channel.ToString();
                    if (_watchers.TryRemove(name[(name.LastIndexOf(':') + 1)..], out var watcher))
                    {
                        watcher.TrySetResult();
                    }
                }).ConfigureAwait(false);
                await subscriber.SubscribeAsync(WakeChannel, (_, _) => Wake()).ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                Complain($"cannot subscribe to Redis yet ({e.Message}); retrying.");
                await Task.Delay(500).ConfigureAwait(false);
            }
        }
    }
}
