using System.IO.Compression;
using System.Net;
using System.Text.Json;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace CudaI2V.Tests.Server;

/// <summary>The API of <c>cudai2v serve</c>, end to end on a real loopback server running the tiny pipeline on the CPU.</summary>
public sealed class ServerApiTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_job_runs_with_the_sampler_it_names()
    {
        await using var server = await TestServer.StartAsync();
        var id = await server.SubmitOk(new { prompt = "a cat", frames = 1, steps = 2, height = 16, width = 24, seed = 5, guidance = 1.0, sampler = "dpmpp-2m", cacheInterval = 2 });

        var job = await server.WaitFinal(id);
        Assert.True(TestServer.State(job) == "succeeded", job.ToString());
        Assert.Equal("dpmpp-2m", job.GetProperty("settings").GetProperty("sampler").GetString());
        Assert.Equal(2, job.GetProperty("settings").GetProperty("cacheInterval").GetInt32());

        // The record carries the memory plan the job ran under.
        var memory = job.GetProperty("memory");
        Assert.True(memory.GetProperty("peakBytes").GetInt64() > 0, memory.ToString());
        Assert.Contains(memory.GetProperty("peakStage").GetString(), new[] { "encode", "denoise", "decode" });
        Assert.StartsWith("peak ", memory.GetProperty("summary").GetString(), StringComparison.Ordinal);
        Assert.Contains("guidance", memory.GetProperty("choices").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_submitted_job_runs_to_a_video_in_every_format()
    {
        await using var server = await TestServer.StartAsync();
        using (var health = await server.Client.GetAsync("/healthz", Token))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }

        using var response = await server.Submit(TestServer.Quick(guided: true));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var submitted = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Token)).RootElement;
        var id = submitted.GetProperty("id").GetString()!;
        Assert.Equal($"/v1/jobs/{id}", response.Headers.Location!.ToString());
        Assert.Equal("queued", TestServer.State(submitted));

        var job = await server.WaitFinal(id);
        Assert.True(TestServer.State(job) == "succeeded", job.ToString());
        var settings = job.GetProperty("settings");
        Assert.Equal((5UL, 2, 2, 16, 24, 9.0), (settings.GetProperty("seed").GetUInt64(), settings.GetProperty("frames").GetInt32(), settings.GetProperty("steps").GetInt32(), settings.GetProperty("height").GetInt32(), settings.GetProperty("width").GetInt32(), settings.GetProperty("guidance").GetDouble()));
        Assert.NotEqual(JsonValueKind.Null, job.GetProperty("startedAt").ValueKind);
        Assert.NotEqual(JsonValueKind.Null, job.GetProperty("finishedAt").ValueKind);
        var formats = job.GetProperty("formats").EnumerateArray().Select(f => f.GetString()).ToList();
        Assert.Contains("gif", formats);
        Assert.Contains("png-zip", formats);

        using (var gif = await server.Client.GetAsync($"/v1/jobs/{id}/video?format=gif", Token))
        {
            Assert.Equal("image/gif", gif.Content.Headers.ContentType!.MediaType);
            using var image = Image.Load<Rgb24>(await gif.Content.ReadAsByteArrayAsync(Token));
            Assert.Equal((2, 24, 16), (image.Frames.Count, image.Width, image.Height));
        }

        using (var zip = await server.Client.GetAsync($"/v1/jobs/{id}/video?format=png-zip", Token))
        {
            using var archive = new ZipArchive(await zip.Content.ReadAsStreamAsync(Token));
            Assert.Equal(["frame_0000.png", "frame_0001.png"], archive.Entries.Select(e => e.Name).Order().ToArray());
        }

        using (var video = await server.Client.GetAsync($"/v1/jobs/{id}/video", Token))
        {
            Assert.Equal(HttpStatusCode.OK, video.StatusCode);
            var expected = formats[0] == "mp4" ? "video/mp4" : "image/gif";
            Assert.Equal(expected, video.Content.Headers.ContentType!.MediaType);
        }

        var list = await server.Client.GetStringAsync("/v1/jobs?limit=5", Token);
        Assert.Contains(id, list, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/readyz", Token)).StatusCode);
        var metrics = await server.Client.GetStringAsync("/metrics", Token);
        Assert.Contains("cudai2v_jobs{state=\"succeeded\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("cudai2v_queue_length 0", metrics, StringComparison.Ordinal);
        Assert.Contains("cudai2v_step_seconds_count 2", metrics, StringComparison.Ordinal);
        Assert.Contains("cudai2v_device_memory_available_bytes{device=", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Events_report_every_stage_in_order_and_end_with_the_final_state()
    {
        await using var server = await TestServer.StartAsync();
        var id = await server.SubmitOk(TestServer.Quick(steps: 3));
        using var stream = await server.Client.GetStreamAsync($"/v1/jobs/{id}/events", Token);
        using var reader = new StreamReader(stream);
        var events = new List<JsonElement>();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Token);
        timeout.CancelAfter(TestServer.Patience);
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                events.Add(JsonDocument.Parse(line[6..]).RootElement.Clone());
            }
        }

        Assert.Equal("succeeded", TestServer.State(events[^1]));
        string[] stages = ["encodingPrompt", "encodingImage", "denoising", "decoding", "writing"];
        var positions = events.Where(e => e.GetProperty("progress").ValueKind == JsonValueKind.Object)
            .Select(e => e.GetProperty("progress"))
            .Select(p => (Stage: Array.IndexOf(stages, p.GetProperty("stage").GetString()), Step: p.GetProperty("step").GetInt32()))
            .ToList();
        Assert.All(positions, p => Assert.True(p.Stage >= 0));
        for (var i = 1; i < positions.Count; i++)
        {
            Assert.True(positions[i].CompareTo(positions[i - 1]) >= 0, $"progress went back: {positions[i - 1]} then {positions[i]}");
        }

        var states = events.Select(TestServer.State).Distinct().ToList();
        Assert.Equal("succeeded", states[^1]);
        Assert.DoesNotContain("failed", states);
    }

    [Fact]
    public async Task Cancel_stops_a_queued_job_at_once_and_a_running_one_through_the_engine_leaving_no_output()
    {
        await using var server = await TestServer.StartAsync();
        var running = await server.SubmitOk(TestServer.Endless());
        var queued = await server.SubmitOk(TestServer.Quick());
        await server.WaitDenoising(running);

        using (var cancel = await server.Client.PostAsync($"/v1/jobs/{queued}/cancel", null, Token))
        {
            Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
            Assert.Equal("canceled", TestServer.State(JsonDocument.Parse(await cancel.Content.ReadAsStringAsync(Token)).RootElement));
        }

        using (var cancel = await server.Client.PostAsync($"/v1/jobs/{running}/cancel", null, Token))
        {
            Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        }

        var job = await server.WaitFinal(running);
        Assert.Equal("canceled", TestServer.State(job));
        Assert.True(job.GetProperty("progress").GetProperty("step").GetInt32() < 500);
        Assert.False(Directory.Exists(server.Host.Jobs.Store.OutputFolder(running)));
        Assert.False(Directory.Exists(server.Host.Jobs.Store.OutputFolder(queued)));
        Assert.Equal("canceled", TestServer.State(await server.Job(queued)));

        using var again = await server.Client.PostAsync($"/v1/jobs/{running}/cancel", null, Token);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        using var video = await server.Client.GetAsync($"/v1/jobs/{running}/video", Token);
        Assert.Equal(HttpStatusCode.Gone, video.StatusCode);
    }

    [Fact]
    public async Task A_repeated_idempotency_key_returns_the_same_job()
    {
        await using var server = await TestServer.StartAsync();
        using var first = await server.Submit(TestServer.Quick(), idempotencyKey: "order-42");
        using var second = await server.Submit(TestServer.Quick(steps: 3), idempotencyKey: "order-42");
        using var other = await server.Submit(TestServer.Quick(), idempotencyKey: "order-43");
        Assert.Equal((HttpStatusCode.Accepted, HttpStatusCode.OK, HttpStatusCode.Accepted), (first.StatusCode, second.StatusCode, other.StatusCode));
        var a = JsonDocument.Parse(await first.Content.ReadAsStringAsync(Token)).RootElement.GetProperty("id").GetString();
        var b = JsonDocument.Parse(await second.Content.ReadAsStringAsync(Token)).RootElement.GetProperty("id").GetString();
        var c = JsonDocument.Parse(await other.Content.ReadAsStringAsync(Token)).RootElement.GetProperty("id").GetString();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Equal(first.Headers.Location, second.Headers.Location);
        var page = JsonDocument.Parse(await server.Client.GetStringAsync("/v1/jobs", Token)).RootElement;
        Assert.Equal(2, page.GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task A_full_queue_answers_503_with_retry_after()
    {
        await using var server = await TestServer.StartAsync(queue: 1);
        var running = await server.SubmitOk(TestServer.Endless());
        await server.WaitDenoising(running);
        var waiting = await server.SubmitOk(TestServer.Quick());
        using var refused = await server.Submit(TestServer.Quick());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType!.MediaType);
        var metrics = await server.Client.GetStringAsync("/metrics", Token);
        Assert.Contains("cudai2v_submissions_refused_total 1", metrics, StringComparison.Ordinal);
        Assert.Contains("cudai2v_queue_length 1", metrics, StringComparison.Ordinal);
        await server.Client.PostAsync($"/v1/jobs/{waiting}/cancel", null, Token);
        await server.Client.PostAsync($"/v1/jobs/{running}/cancel", null, Token);
        await server.WaitFinal(running);
    }

    [Fact]
    public async Task An_api_key_is_needed_for_every_request_but_the_page()
    {
        await using var server = await TestServer.StartAsync(apiKey: "s3cret-key-1");
        using var anonymous = new HttpClient { BaseAddress = server.Client.BaseAddress };
        foreach (var path in new[] { "/v1/jobs", "/healthz", "/metrics", "/v1/jobs/0123456789abcdef0123456789abcdef" })
        {
            using var refused = await anonymous.GetAsync(path, Token);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        using (var wrong = new HttpRequestMessage(HttpMethod.Get, "/v1/jobs"))
        {
            wrong.Headers.Authorization = new("Bearer", "s3cret-key-2");
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.SendAsync(wrong, Token)).StatusCode);
        }

        using var post = await anonymous.PostAsync("/v1/videos", TestServer.Form(TestServer.Quick(), TestServer.Image), Token);
        Assert.Equal(HttpStatusCode.Unauthorized, post.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/v1/jobs", Token)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/", Token)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/app.js", Token)).StatusCode);
    }
}
