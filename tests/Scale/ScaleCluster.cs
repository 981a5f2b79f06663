using System.Globalization;
using System.Text.RegularExpressions;
using CudaI2V.Server;
using CudaI2V.Server.Scale;
using CudaI2V.Tests.Server;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Scale;

/// <summary>
/// A scaled-out <c>serve</c> in one test process: a real redis-server, the API (a <see cref="TestServer"/> in the api
/// role) and workers (hosts in the worker role without HTTP, each with its own engine: the tiny pipeline on the CPU),
/// all over one data folder. Short timings: a worker is lost after 2 s without a heartbeat.
/// </summary>
public sealed partial class ScaleCluster : IAsyncDisposable
{
    private readonly Dictionary<string, ServerHost> _workers = [];

    private ScaleCluster(RedisProcess redis, TestServer api, RedisSettings settings)
    {
        Redis = redis;
        Api = api;
        Settings = settings;
    }

    public RedisProcess Redis { get; }

    public TestServer Api { get; }

    public RedisSettings Settings { get; }

    public IReadOnlyDictionary<string, ServerHost> Workers => _workers;

    public string Data => Api.Settings.DataFolder;

    /// <summary>Starts Redis (unless <paramref name="redis"/> is given), the API, and <paramref name="workers"/> workers named w1, w2...</summary>
    public static async Task<ScaleCluster> StartAsync(int workers, int queue = 8, Func<RedisSettings, RedisSettings>? change = null, RedisProcess? redis = null)
    {
        redis ??= RedisProcess.Start();
        var settings = new RedisSettings
        {
            Endpoint = redis.Endpoint,
            Prefix = "test",
            LostAfter = TimeSpan.FromSeconds(2),
            Poll = TimeSpan.FromMilliseconds(100),
            Upkeep = TimeSpan.FromMilliseconds(300),
        };
        settings = change?.Invoke(settings) ?? settings;
        var api = await TestServer.StartAsync(queue: queue, change: s => s with { Role = ServeRole.Api, Redis = settings with { WorkerName = "api" } });
        var cluster = new ScaleCluster(redis, api, settings);
        for (var i = 1; i <= workers; i++)
        {
            await cluster.StartWorker($"w{i}");
        }

        return cluster;
    }

    /// <summary>Starts a worker named <paramref name="name"/> and waits until its engine is loaded.</summary>
    public async Task<ServerHost> StartWorker(string name)
    {
        var settings = Api.Settings with { Urls = "", Role = ServeRole.Worker, Redis = Settings with { WorkerName = name } };
        var host = await ServerHost.StartAsync(settings, TestServer.LoadTinyEngine);
        _workers[name] = host;
        await host.Engine.WaitAsync(TimeSpan.FromSeconds(120), TestContext.Current.CancellationToken);
        return host;
    }

    /// <summary>Ends a worker as if its process were killed: no heartbeat, nothing written or acknowledged.</summary>
    public async Task KillWorker(string name)
    {
        var host = _workers[name];
        _workers.Remove(name);
        host.Kill();
        await host.DisposeAsync();
    }

    /// <summary>Stops a worker cleanly.</summary>
    public async Task StopWorker(string name)
    {
        var host = _workers[name];
        _workers.Remove(name);
        await host.DisposeAsync();
    }

    /// <summary>Jobs a host's worker ended in <paramref name="state"/>, from its metrics.</summary>
    public static int Finished(ServerHost host, string state)
    {
        var text = host.Metrics.Render(host.Jobs, null);
        var match = Regex.Match(text, $"cudai2v_jobs_finished_total\\{{state=\"{state}\"\\}} (\\d+)");
        return match.Success ? int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    /// <summary>
    /// Waits until <paramref name="hosts"/>' workers have counted <paramref name="expected"/> jobs ended in
    /// <paramref name="state"/> together (a worker counts just after the job's record is stored), and never more.
    /// </summary>
    public static async Task FinishedCount(IEnumerable<ServerHost> hosts, string state, int expected)
    {
        var list = hosts.ToList();
        await Eventually(() => Task.FromResult(list.Sum(h => Finished(h, state)) >= expected), $"{expected} jobs {state} counted by the workers", 10);
        Assert.Equal(expected, list.Sum(h => Finished(h, state)));
    }

    /// <summary>A gauge of the API's /metrics.</summary>
    public async Task<double> Gauge(string name)
    {
        var text = await Api.Client.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        var match = Regex.Match(text, $"^{name} (\\S+)$", RegexOptions.Multiline);
        Assert.True(match.Success, $"/metrics has no {name}:\n{text}");
        return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    /// <summary>Waits (at most <paramref name="seconds"/>) until <paramref name="condition"/> holds.</summary>
    public static async Task Eventually(Func<Task<bool>> condition, string what, double seconds = 30)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(seconds);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"not within {seconds} s: {what}");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var name in _workers.Keys.ToList())
        {
            await StopWorker(name);
        }

        await Api.DisposeAsync();
        Redis.Dispose();
        _ = Fixtures.Root;
    }
}
