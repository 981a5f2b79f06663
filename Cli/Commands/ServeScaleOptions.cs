using System.Globalization;
using CudaI2V.Server.Scale;

namespace CudaI2V.Cli.Commands;

/// <summary>
/// The options of a scaled-out <c>serve</c> (docs/scale-out.md): the role, the Redis connection and the queue's
/// timings. Each may also come from an environment variable (the flag wins), so a container or a service unit can
/// configure a worker without a command line; the password is best given that way or in a file.
/// </summary>
internal static class ServeScaleOptions
{
    public static OptionSpec[] Specs { get; } =
    [
        new("role", "all|api|worker", "What this process does: the API and a worker (all), the API only, or a worker only. $CUDAI2V_ROLE.", Default: "all"),
        new("redis", "host:port", "Queue the jobs in this Redis (Streams with a consumer group) for many workers. $CUDAI2V_REDIS."),
        new("redis-user", "name", "The Redis ACL user. $CUDAI2V_REDIS_USER."),
        new("redis-password-file", "file", "Read the Redis password from a file. $CUDAI2V_REDIS_PASSWORD holds it directly."),
        new("redis-tls", null, "Connect to Redis over TLS. $CUDAI2V_REDIS_TLS=1."),
        new("redis-ca", "file", "The certificate authority of the Redis server's TLS certificate (else the system's). $CUDAI2V_REDIS_CA."),
        new("redis-prefix", "name", "The prefix of every Redis key, so deployments can share one Redis. $CUDAI2V_REDIS_PREFIX.", Default: "cudai2v"),
        new("worker-name", "name", "This worker's name in the consumer group (unique per process). $CUDAI2V_WORKER_NAME.", Default: "host-pid-random"),
        new("lost-after", "duration", "A worker not heartbeating this long is presumed lost; its job is re-claimed by another. $CUDAI2V_LOST_AFTER.", Default: "60s"),
        new("max-deliveries", "n", "A job delivered this many times without finishing is failed with the reason. $CUDAI2V_MAX_DELIVERIES.", Default: "3"),
        new("retention", "duration", "Ended jobs (status, record and video) are removed after this long. $CUDAI2V_RETENTION.", Default: "7d"),
    ];

    /// <summary>The role asked for.</summary>
    public static ServeRole Role(ParsedArgs args)
    {
        var text = Value(args, "role", "CUDAI2V_ROLE") ?? "all";
        return text switch
        {
            "all" => ServeRole.All,
            "api" => ServeRole.Api,
            "worker" => ServeRole.Worker,
            _ => throw new UsageException($"--role must be all, api or worker, got '{text}'."),
        };
    }

    /// <summary>The Redis settings, or null when neither --redis nor $CUDAI2V_REDIS is given.</summary>
    public static RedisSettings? Redis(ParsedArgs args, ServeRole role)
    {
        var endpoint = Value(args, "redis", "CUDAI2V_REDIS");
        if (endpoint is null)
        {
            return role == ServeRole.All
                ? null
                : throw new UsageException($"--role {role.ToString().ToLowerInvariant()} needs --redis HOST:PORT (or $CUDAI2V_REDIS): the API and the workers meet in Redis.");
        }

        if (endpoint.Contains("://", StringComparison.Ordinal) || endpoint.Contains(',', StringComparison.Ordinal) || endpoint.Length == 0)
        {
            throw new UsageException($"--redis takes HOST:PORT (for example 127.0.0.1:6379), got '{endpoint}'; give the password and TLS with their own options.");
        }

        var passwordFile = args.Get("redis-password-file");
        var password = passwordFile is not null ? File.ReadAllText(passwordFile).Trim() : Environment.GetEnvironmentVariable("CUDAI2V_REDIS_PASSWORD");
        var defaults = new RedisSettings { Endpoint = endpoint };
        var tls = args.Has("redis-tls") || Environment.GetEnvironmentVariable("CUDAI2V_REDIS_TLS") is "1" or "true" or "yes";
        var deliveries = Value(args, "max-deliveries", "CUDAI2V_MAX_DELIVERIES");
        return defaults with
        {
            User = Value(args, "redis-user", "CUDAI2V_REDIS_USER"),
            Password = string.IsNullOrEmpty(password) ? null : password,
            Tls = tls,
            TlsCaFile = Value(args, "redis-ca", "CUDAI2V_REDIS_CA"),
            Prefix = Value(args, "redis-prefix", "CUDAI2V_REDIS_PREFIX") ?? defaults.Prefix,
            WorkerName = Value(args, "worker-name", "CUDAI2V_WORKER_NAME") ?? defaults.WorkerName,
            LostAfter = Duration(args, "lost-after", "CUDAI2V_LOST_AFTER") ?? defaults.LostAfter,
            MaxDeliveries = deliveries is null ? defaults.MaxDeliveries
                : int.TryParse(deliveries, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 100 ? n
                : throw new UsageException($"--max-deliveries must be an integer from 1 to 100, got '{deliveries}'."),
            Retention = Duration(args, "retention", "CUDAI2V_RETENTION") ?? defaults.Retention,
        };
    }

    private static string? Value(ParsedArgs args, string name, string variable) =>
        args.Get(name) ?? (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value ? value : null);

    private static TimeSpan? Duration(ParsedArgs args, string name, string variable)
    {
        var text = Value(args, name, variable);
        try
        {
            return text is null ? null : RedisSettings.ParseDuration(text);
        }
        catch (FormatException e)
        {
            throw new UsageException($"--{name}: {e.Message}");
        }
    }
}
