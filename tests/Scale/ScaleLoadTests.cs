using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using CudaI2V.Tests.Server;

namespace CudaI2V.Tests.Scale;

/// <summary>
/// A bounded load on loopback: 200 submissions of one frame and one step from 8 clients to an API with a queue of
/// 8 and 4 workers. Every job is run or refused with 503, none lost or duplicated; the queue latency and the
/// throughput are printed (not asserted: no timed speed tests).
/// </summary>
[Collection(RedisProcess.Collection)]
public sealed class ScaleLoadTests(ITestOutputHelper output)
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Two_hundred_submissions_to_four_workers_are_each_run_once_or_refused()
    {
        if (RedisProcess.Missing is { } why)
        {
            Assert.Skip(why);
        }

        const int Clients = 8, PerClient = 25;
        // A long lost-worker timeout: this test counts deliveries, and on a starved CI machine a worker may take over the
        // tests' usual 2 s between reading a job and its first heartbeat (a re-delivery that at-least-once allows).
        await using var cluster = await ScaleCluster.StartAsync(workers: 4, queue: 8, change: s => s with { LostAfter = TimeSpan.FromSeconds(30) });
        var api = cluster.Api;
        var options = new { prompt = "a cat", frames = 1, steps = 1, height = 16, width = 16, guidance = 1.0 };
        var accepted = new ConcurrentBag<string>();
        var refused = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Clients).Select(async _ =>
        {
            for (var i = 0; i < PerClient; i++)
            {
                using var response = await api.Submit(options);
                if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                {
                    Assert.NotNull(response.Headers.RetryAfter);
                    Interlocked.Increment(ref refused);
                    await Task.Delay(250, Token);
                    continue;
                }

                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
                accepted.Add(JsonDocument.Parse(await response.Content.ReadAsStringAsync(Token)).RootElement.GetProperty("id").GetString()!);
            }
        }));

        var jobs = new List<JsonElement>();
        foreach (var id in accepted)
        {
            jobs.Add(await api.WaitFinal(id));
        }

        var seconds = clock.Elapsed.TotalSeconds;
        Assert.Equal(Clients * PerClient, accepted.Count + refused);
        Assert.Equal(accepted.Count, accepted.Distinct().Count());
        Assert.All(jobs, j => Assert.Equal("succeeded", TestServer.State(j)));
        Assert.All(jobs, j => Assert.Equal(1, j.GetProperty("deliveries").GetInt32()));
        await ScaleCluster.FinishedCount(cluster.Workers.Values, "succeeded", accepted.Count);
        Assert.Equal(0, await cluster.Gauge("cudai2v_stream_pending"));

        // Every place in the queue is free again. Under CI load a few places have stayed held by ids with no job record
        // (2, and once 8, in full runs of 2026-12-02; a reservation whose reply was lost), which the upkeep frees once
        // they have had no record for 10 s (docs/scale-out.md).
        await ScaleCluster.Eventually(async () => await cluster.Gauge("cudai2v_queue_length") == 0, "every queue place freed", 30);

        var waits = jobs.Select(j => (j.GetProperty("startedAt").GetDateTimeOffset() - j.GetProperty("createdAt").GetDateTimeOffset()).TotalSeconds).Order().ToArray();
        var perWorker = jobs.GroupBy(j => j.GetProperty("worker").GetString()).Select(g => $"{g.Key}: {g.Count()}");
        output.WriteLine(
            $"scale-out load: {accepted.Count} run, {refused} refused with 503 (queue 8, 4 workers) in {seconds:0.0} s: "
            + $"{accepted.Count / seconds:0.00} jobs/s; queue latency median {waits[waits.Length / 2]:0.00} s, p95 {waits[(int)(waits.Length * 0.95)]:0.00} s, "
            + $"max {waits[^1]:0.00} s; per worker {string.Join(", ", perWorker)}");
    }
}
