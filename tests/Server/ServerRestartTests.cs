using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using CudaI2V.Server.Jobs;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Server;

/// <summary>Jobs survive a restart of the server, and a burst of clients neither loses nor duplicates a job.</summary>
public sealed class ServerRestartTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task After_a_crash_the_interrupted_job_is_failed_and_the_queued_ones_run()
    {
        // The records a crash leaves: one job marked running (with a half-written output) and two queued behind it.
        var data = Fixtures.TempFolder("serve-crash");
        var store = new JobStore(data);
        var settings = new JobSettings { Prompt = "a cat", Frames = 1, Steps = 1, Guidance = 1, Fps = 8, Height = 16, Width = 24, Seed = 3, DecodeChunk = 1 };
        var image = TestServer.Image;
        var start = DateTimeOffset.UtcNow;
        var interrupted = new Job { Id = JobStore.NewId(), State = JobState.Running, Settings = settings, CreatedAt = start, StartedAt = start };
        var first = new Job { Id = JobStore.NewId(), State = JobState.Queued, Settings = settings, CreatedAt = start.AddSeconds(1) };
        var second = new Job { Id = JobStore.NewId(), State = JobState.Queued, Settings = settings with { Seed = 4 }, CreatedAt = start.AddSeconds(2) };
        foreach (var job in new[] { interrupted, first, second })
        {
            store.Create(job, image);
        }

        Directory.CreateDirectory(store.OutputFolder(interrupted.Id));
        File.WriteAllBytes(Path.Combine(store.OutputFolder(interrupted.Id), "video.gif"), [1, 2, 3]);

        await using var server = await TestServer.StartAsync(data);
        var failed = await server.Job(interrupted.Id);
        Assert.Equal("failed", TestServer.State(failed));
        Assert.Contains("stopped while this job was running", failed.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(store.OutputFolder(interrupted.Id)));

        var a = await server.WaitFinal(first.Id);
        var b = await server.WaitFinal(second.Id);
        Assert.Equal(("succeeded", "succeeded"), (TestServer.State(a), TestServer.State(b)));
        Assert.True(a.GetProperty("finishedAt").GetDateTimeOffset() <= b.GetProperty("startedAt").GetDateTimeOffset(), "queued jobs run in their order");
    }

    [Fact]
    public async Task A_job_running_at_shutdown_is_queued_again_and_runs_after_the_restart()
    {
        var data = Fixtures.TempFolder("serve-restart");
        string id;
        await using (var server = await TestServer.StartAsync(data))
        {
            id = await server.SubmitOk(TestServer.Endless());
            await server.WaitDenoising(id);
        }

        Assert.Equal(JobState.Queued, new JobStore(data).LoadAll().Single().State);
        await using (var server = await TestServer.StartAsync(data))
        {
            await server.WaitDenoising(id);
            using var cancel = await server.Client.PostAsync($"/v1/jobs/{id}/cancel", null, Token);
            Assert.Equal("canceled", TestServer.State(await server.WaitFinal(id)));
        }
    }

    [Fact]
    public async Task A_burst_of_clients_gets_every_job_run_or_refused_with_503_none_lost_or_duplicated()
    {
        const int Clients = 12, PerClient = 5;
        await using var server = await TestServer.StartAsync(queue: 4);
        var quick = new { prompt = "a cat", frames = 1, steps = 1, height = 16, width = 16, guidance = 1.0 };
        await RunBurst(server, Clients, PerClient, quick);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var (accepted, refused) = await RunBurst(server, Clients, PerClient, quick);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var after = GC.GetTotalMemory(forceFullCollection: true);

        Assert.Equal(Clients * PerClient, accepted.Count + refused);
        Assert.True(refused > 0, "a queue of 4 against 12 clients refuses some");
        Assert.Equal(accepted.Count, accepted.Distinct().Count());
        foreach (var id in accepted)
        {
            Assert.Equal("succeeded", TestServer.State(await server.WaitFinal(id)));
        }

        var page = JsonDocument.Parse(await server.Client.GetStringAsync("/v1/jobs?limit=100", Token)).RootElement;
        Assert.Superset(accepted.ToHashSet(), page.GetProperty("jobs").EnumerateArray().Select(j => j.GetProperty("id").GetString()!).ToHashSet());
        // The managed heap after the second burst holds its job records, not its uploads or videos: a few MiB at most.
        Assert.True(after - before < 64L * 1024 * 1024, $"the managed heap grew by {(after - before) / (1024 * 1024)} MiB over one burst");
    }

    private static async Task<(List<string> Accepted, int Refused)> RunBurst(TestServer server, int clients, int perClient, object options)
    {
        var accepted = new ConcurrentBag<string>();
        var refused = 0;
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            for (var i = 0; i < perClient; i++)
            {
                using var response = await server.Submit(options);
                if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                {
                    Assert.NotNull(response.Headers.RetryAfter);
                    Interlocked.Increment(ref refused);
                    continue;
                }

                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
                accepted.Add(JsonDocument.Parse(await response.Content.ReadAsStringAsync(Token)).RootElement.GetProperty("id").GetString()!);
            }
        }));
        foreach (var id in accepted)
        {
            await server.WaitFinal(id);
        }

        return ([.. accepted], refused);
    }
}
