using System.Net;
using CudaI2V.Server.Scale;

namespace CudaI2V.Server;

/// <summary>How <c>cudai2v serve</c> runs: where it listens, its data folder, its queue and its limits.</summary>
public sealed record ServeSettings
{
    /// <summary>The default address: loopback only.</summary>
    public const string DefaultUrls = "http://127.0.0.1:8080";

    /// <summary>Addresses to listen on, separated by ';' (port 0 picks a free port); empty for none (a worker without HTTP).</summary>
    public string Urls { get; init; } = DefaultUrls;

    /// <summary>What this process does: the API, a worker, or both (the default).</summary>
    public ServeRole Role { get; init; } = ServeRole.All;

    /// <summary>The Redis that queues the jobs when scaled out (docs/scale-out.md); null for the single process.</summary>
    public RedisSettings? Redis { get; init; }

    /// <summary>Where job records and outputs are kept (created when missing).</summary>
    public required string DataFolder { get; init; }

    /// <summary>The most jobs waiting before a submission is refused with 503.</summary>
    public int QueueCapacity { get; init; } = 16;

    /// <summary>The API key every request must carry (<c>Authorization: Bearer</c>); none when null.</summary>
    public string? ApiKey { get; init; }

    /// <summary>The largest upload accepted, in bytes (the whole multipart body); larger ones get 413.</summary>
    public long MaxUploadBytes { get; init; } = 20L * 1024 * 1024;

    /// <summary>The longest side of an uploaded image.</summary>
    public int MaxImageSide { get; init; } = 4096;

    /// <summary>The longest side of a video.</summary>
    public int MaxVideoSide { get; init; } = 2048;

    /// <summary>The most frames of a video.</summary>
    public int MaxFrames { get; init; } = 128;

    /// <summary>The most denoising steps.</summary>
    public int MaxSteps { get; init; } = 500;

    /// <summary>The defaults of the options a submission leaves out (the release's 704x1280, 16 frames, 50 steps unless changed).</summary>
    public JobDefaults Defaults { get; init; } = new();

    /// <summary>The hosts of <see cref="Urls"/> that are not loopback addresses (empty when it listens on loopback only).</summary>
    public IReadOnlyList<string> NonLoopbackHosts() => NonLoopbackHosts(Urls);

    /// <summary>
    /// The hosts of <paramref name="urls"/> (';'-separated) that are not loopback: any wildcard (<c>0.0.0.0</c>,
    /// <c>[::]</c>, <c>*</c>, <c>+</c>), any address outside 127.0.0.0/8 and ::1, and any host name but localhost.
    /// Throws <see cref="FormatException"/> for a malformed URL.
    /// </summary>
    public static IReadOnlyList<string> NonLoopbackHosts(string urls)
    {
        ArgumentNullException.ThrowIfNull(urls);
        var open = new List<string>();
        foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var rest = url.Contains("://", StringComparison.Ordinal) ? url[(url.IndexOf("://", StringComparison.Ordinal) + 3)..] : throw new FormatException($"'{url}' is not a URL such as http://127.0.0.1:8080.");
            var slash = rest.IndexOf('/', StringComparison.Ordinal);
            var authority = slash < 0 ? rest : rest[..slash];
            string host;
            if (authority.StartsWith('['))
            {
                var close = authority.IndexOf(']', StringComparison.Ordinal);
                host = close < 0 ? throw new FormatException($"'{url}' has an unclosed IPv6 address.") : authority[1..close];
            }
            else
            {
                var colon = authority.LastIndexOf(':');
                host = colon < 0 ? authority : authority[..colon];
            }

            var loopback = host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
                || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));
            if (!loopback)
            {
                open.Add(host.Length == 0 ? url : host);
            }
        }

        return open;
    }
}

/// <summary>The values of the options a submission leaves out.</summary>
public sealed record JobDefaults
{
    /// <summary>Frames of video.</summary>
    public int Frames { get; init; } = 16;

    /// <summary>Denoising steps.</summary>
    public int Steps { get; init; } = 50;

    /// <summary>Guidance scale.</summary>
    public double Guidance { get; init; } = 9.0;

    /// <summary>Frame rate.</summary>
    public int Fps { get; init; } = 16;

    /// <summary>Height in pixels.</summary>
    public int Height { get; init; } = 704;

    /// <summary>Width in pixels.</summary>
    public int Width { get; init; } = 1280;
}
