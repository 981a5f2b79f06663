using System.Globalization;
using StackExchange.Redis;

namespace CudaI2V.Server.Scale;

/// <summary>What a process of a scaled-out <c>serve</c> does (docs/scale-out.md).</summary>
public enum ServeRole
{
    /// <summary>The API and one worker in one process (without Redis: the single process of <c>serve</c>).</summary>
    All,

    /// <summary>Accepts and validates jobs, adds them to the stream, serves status, events, cancel and videos.</summary>
    Api,

    /// <summary>Loads the engine and runs jobs taken from the stream, one at a time.</summary>
    Worker,
}

/// <summary>
/// The Redis connection and the queue's timings: where Redis is (with a password and TLS where needed), the key
/// prefix, when a worker is presumed lost, how many deliveries a job gets, and how long records are kept.
/// </summary>
public sealed record RedisSettings
{
    /// <summary>host:port of the Redis server.</summary>
    public required string Endpoint { get; init; }

    /// <summary>The ACL user name (Redis 6+), or null for the default user.</summary>
    public string? User { get; init; }

    /// <summary>The password (AUTH), or null.</summary>
    public string? Password { get; init; }

    /// <summary>Connect over TLS.</summary>
    public bool Tls { get; init; }

    /// <summary>A PEM or DER file with the certificate authority that issued the server's certificate (with <see cref="Tls"/>), or null for the system's.</summary>
    public string? TlsCaFile { get; init; }

    /// <summary>The prefix of every key and channel (several deployments may share one Redis with different prefixes).</summary>
    public string Prefix { get; init; } = "cudai2v";

    /// <summary>This worker's consumer name in the group (unique per process).</summary>
    public string WorkerName { get; init; } = $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";

    /// <summary>A job whose worker has not heartbeaten for this long is re-claimed by another worker.</summary>
    public TimeSpan LostAfter { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Deliveries a job gets; the next delivery fails it with the reason.</summary>
    public int MaxDeliveries { get; init; } = 3;

    /// <summary>How long an ended job's status and files are kept before they expire.</summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromDays(7);

    /// <summary>How often an idle worker looks for a job when no new-job signal arrives.</summary>
    public TimeSpan Poll { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How often the API re-adds lost queued jobs, trims the stream and expires old jobs.</summary>
    public TimeSpan Upkeep { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often a running job heartbeats and looks for a cancel: a quarter of <see cref="LostAfter"/>, at most 1 s.</summary>
    public TimeSpan Tick => TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(1).Ticks, LostAfter.Ticks / 4));

    /// <summary>
    /// The client's options: the first attempt is short and never fatal (every role starts, then waits for Redis);
    /// the client reconnects by itself in the background, then and after any later loss.
    /// </summary>
    public ConfigurationOptions Options()
    {
        var options = ConfigurationOptions.Parse(Endpoint);
        options.AbortOnConnectFail = false;
        options.ConnectRetry = 1;
        options.ConnectTimeout = 2000;
        options.SyncTimeout = 10000;
        options.AsyncTimeout = 10000;
        options.ClientName = "cudai2v-" + WorkerName;
        options.User = User;
        options.Password = Password;
        options.Ssl = Tls;
        if (Tls && TlsCaFile is not null)
        {
            options.TrustIssuer(TlsCaFile);
        }

        return options;
    }

    /// <summary>
    /// Parses a duration: seconds (<c>90</c>), or a number with <c>s</c>, <c>m</c>, <c>h</c> or <c>d</c> (<c>30s</c>,
    /// <c>10m</c>, <c>24h</c>, <c>7d</c>). Throws <see cref="FormatException"/> saying what is accepted.
    /// </summary>
    public static TimeSpan ParseDuration(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var t = text.Trim();
        var unit = t.Length > 0 && char.IsAsciiLetter(t[^1]) ? char.ToLowerInvariant(t[^1]) : 's';
        var number = char.IsAsciiLetter(t.Length > 0 ? t[^1] : '0') ? t[..^1] : t;
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !(value > 0) || double.IsInfinity(value) || "smhd".IndexOf(unit, StringComparison.Ordinal) < 0)
        {
            throw new FormatException($"'{text}' is not a duration: write a positive number of seconds, or one with s, m, h or d (30s, 10m, 24h, 7d).");
        }

        return unit switch
        {
            's' => TimeSpan.FromSeconds(value),
            'm' => TimeSpan.FromMinutes(value),
            'h' => TimeSpan.FromHours(value),
            _ => TimeSpan.FromDays(value),
        };
    }
}
