using System.IO.Compression;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using CudaI2V.Pipeline.Engine;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace CudaI2V.Tests.Server;

/// <summary>
/// The frames of a job as the VAE decodes them (<c>framesReady</c>, <c>GET /v1/jobs/{id}/frames/{i}</c>), the latent
/// preview while it denoises (<c>previewStep</c>, <c>/preview</c>) and the
/// <c>preset</c> option, on a real loopback server running the tiny pipeline on the CPU.
/// </summary>
public sealed class ServerFramesTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Frames_are_counted_and_served_as_they_are_decoded_and_after_the_job()
    {
        await using var server = await TestServer.StartAsync();
        var id = await server.SubmitOk(new { prompt = "a cat", frames = 3, steps = 1, height = 16, width = 24, seed = 5, guidance = 1.0, decodeChunk = 1 });

        // Every record read on the way: framesReady only grows, and every frame it counts can be read at once.
        var seen = new List<int>();
        var deadline = DateTime.UtcNow + TestServer.Patience;
        JsonElement job;
        while (true)
        {
            job = await server.Job(id);
            var ready = job.GetProperty("framesReady").GetInt32();
            seen.Add(ready);
            if (ready > 0 && TestServer.State(job) == "running")
            {
                using var frame = await server.Client.GetAsync($"/v1/jobs/{id}/frames/{ready - 1}", Token);
                Assert.Equal(HttpStatusCode.OK, frame.StatusCode);
            }

            if (TestServer.State(job) is "succeeded" or "failed" or "canceled")
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, $"job {id} did not end; it is {job}");
            await Task.Delay(10, Token);
        }

        Assert.True(TestServer.State(job) == "succeeded", job.ToString());
        Assert.Equal(seen.Order(), seen);
        Assert.Equal(3, seen[^1]);

        // Each frame is the PNG of the video's frame: the very file the png-zip download holds.
        using var zip = new ZipArchive(await server.Client.GetStreamAsync($"/v1/jobs/{id}/video?format=png-zip", Token));
        for (var i = 0; i < 3; i++)
        {
            using var response = await server.Client.GetAsync($"/v1/jobs/{id}/frames/{i}", Token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("image/png", response.Content.Headers.ContentType!.MediaType);
            var bytes = await response.Content.ReadAsByteArrayAsync(Token);
            using var image = Image.Load<Rgb24>(bytes);
            Assert.Equal((24, 16), (image.Width, image.Height));
            await using var entry = zip.GetEntry($"frame_{i:D4}.png")!.Open();
            using var copy = new MemoryStream();
            await entry.CopyToAsync(copy, Token);
            Assert.Equal(copy.ToArray(), bytes);
        }

        // The last latent preview stays: three frames of 8x12 latents (the tiny VAE halves the size) as a 2x2 grid.
        Assert.Equal(1, job.GetProperty("previewStep").GetInt32());
        using (var preview = await server.Client.GetAsync($"/v1/jobs/{id}/preview", Token))
        {
            Assert.Equal(HttpStatusCode.OK, preview.StatusCode);
            using var image = Image.Load<Rgb24>(await preview.Content.ReadAsByteArrayAsync(Token));
            Assert.Equal((24, 16), (image.Width, image.Height));
        }

        // Indices that are not frames of the job are 400s naming the index.
        foreach (var bad in new[] { "3", "-1", "x", "1.5", "99999999999" })
        {
            using var response = await server.Client.GetAsync($"/v1/jobs/{id}/frames/{bad}", Token);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains("\"field\":\"index\"", await response.Content.ReadAsStringAsync(Token), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Frames_of_a_job_not_decoded_yet_or_canceled_are_404()
    {
        await using var server = await TestServer.StartAsync();
        var running = await server.SubmitOk(TestServer.Endless());
        var queued = await server.SubmitOk(TestServer.Quick());
        await server.WaitDenoising(running);

        using (var response = await server.Client.GetAsync($"/v1/jobs/{running}/frames/0", Token))
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Contains("not decoded yet (0 of 1 are)", await response.Content.ReadAsStringAsync(Token), StringComparison.Ordinal);
        }

        Assert.Equal(0, (await server.Job(queued)).GetProperty("framesReady").GetInt32());

        // The running job's latent preview is there from its first step on; the queued job has none.
        await server.WaitFor(running, j => j.GetProperty("previewStep").GetInt32() >= 1, "a preview");
        using (var preview = await server.Client.GetAsync($"/v1/jobs/{running}/preview", Token))
        {
            Assert.Equal(HttpStatusCode.OK, preview.StatusCode);
            Assert.Equal("image/png", preview.Content.Headers.ContentType!.MediaType);
        }

        using (var preview = await server.Client.GetAsync($"/v1/jobs/{queued}/preview", Token))
        {
            Assert.Equal(HttpStatusCode.NotFound, preview.StatusCode);
        }
        using (await server.Client.PostAsync($"/v1/jobs/{queued}/cancel", null, Token))
        {
        }

        using (await server.Client.PostAsync($"/v1/jobs/{running}/cancel", null, Token))
        {
        }

        Assert.Equal("canceled", TestServer.State(await server.WaitFinal(running)));
        using var canceled = await server.Client.GetAsync($"/v1/jobs/{queued}/frames/0", Token);
        Assert.Equal(HttpStatusCode.NotFound, canceled.StatusCode);
        Assert.Contains("it has no frames", await canceled.Content.ReadAsStringAsync(Token), StringComparison.Ordinal);
        using var unknown = await server.Client.GetAsync($"/v1/jobs/{new string('0', 32)}/frames/0", Token);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task A_preset_fills_in_the_sampler_steps_and_guidance_not_given()
    {
        await using var server = await TestServer.StartAsync(change: s => s with { MaxSteps = 40 });
        var blocker = await server.SubmitOk(TestServer.Quick(steps: 40, frames: 1)); // keeps the others queued
        var draft = await server.SubmitOk(new { prompt = "a cat", preset = "draft", frames = 1, height = 16, width = 24 });
        var mine = await server.SubmitOk(new { prompt = "a cat", preset = "fast", steps = 3, guidance = 2.5, height = 16, width = 24 });
        var settings = (await server.Job(draft)).GetProperty("settings");
        Assert.Equal(("draft", "unipc", 10, 9.0), (settings.GetProperty("preset").GetString(), settings.GetProperty("sampler").GetString(), settings.GetProperty("steps").GetInt32(), settings.GetProperty("guidance").GetDouble()));
        settings = (await server.Job(mine)).GetProperty("settings");
        Assert.Equal(("fast", "dpmpp-2m", 3, 2.5), (settings.GetProperty("preset").GetString(), settings.GetProperty("sampler").GetString(), settings.GetProperty("steps").GetInt32(), settings.GetProperty("guidance").GetDouble()));

        // An unknown preset, and one whose steps exceed the server's limit, are 400s naming options.preset.
        foreach (var options in new object[] { new { prompt = "a cat", preset = "turbo" }, new { prompt = "a cat", preset = "release" } })
        {
            using var response = await server.Submit(options);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains("\"field\":\"options.preset\"", await response.Content.ReadAsStringAsync(Token), StringComparison.Ordinal);
        }

        foreach (var id in new[] { draft, mine, blocker })
        {
            using (await server.Client.PostAsync($"/v1/jobs/{id}/cancel", null, Token))
            {
            }
        }

        await server.WaitFinal(blocker);

        // The page offers the same presets, by the same names.
        var page = await server.Client.GetStringAsync("/", Token);
        var offered = Regex.Matches(page, "<option value=\"([a-z]+)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(GenerationPreset.Names, offered);
    }
}
