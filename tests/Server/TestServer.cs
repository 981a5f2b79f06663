using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using CudaI2V.Loader;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Runtime.Caching;
using CudaI2V.Server;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Server;

/// <summary>
/// A real <c>cudai2v serve</c> on a loopback port chosen by the system (Kestrel's port 0), with the tiny pipeline on
/// the CPU and its own data folder, and an <see cref="HttpClient"/> for it. Every wait is bounded.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    /// <summary>The longest any test waits for a job.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    /// <summary>One cache for every test server: the text encoder's ONNX model is built once.</summary>
    private static readonly Lazy<string> Cache = new(() => Fixtures.TempFolder("serve-cache"));

    private TestServer(ServerHost host, HttpClient client, ServeSettings settings)
    {
        Host = host;
        Client = client;
        Settings = settings;
    }

    public ServerHost Host { get; }

    public HttpClient Client { get; }

    public ServeSettings Settings { get; }

    public string BaseAddress => Client.BaseAddress!.ToString().TrimEnd('/');

    /// <summary>The tiny pipeline's input image.</summary>
    public static byte[] Image => File.ReadAllBytes(Fixtures.Path("pipeline-tiny", "input.png"));

    /// <summary>
    /// Options of a quick job: 16x24 pixels, without guidance (one UNet batch) unless <paramref name="guided"/> (then the
    /// default guidance applies). The CPU runs the tiny UNet slowly on a busy machine, so every test job is this small.
    /// </summary>
    public static object Quick(int steps = 2, int frames = 2, bool guided = false) => guided
        ? new { prompt = "a cat", frames, steps, height = 16, width = 24, seed = 5 }
        : new { prompt = "a cat", frames, steps, height = 16, width = 24, seed = 5, guidance = 1.0 };

    /// <summary>Options of a job that runs until canceled (500 steps of one small frame).</summary>
    public static object Endless() => Quick(steps: 500, frames: 1);

    /// <summary>Starts a server over <paramref name="data"/> (a fresh folder when null).</summary>
    public static async Task<TestServer> StartAsync(string? data = null, int queue = 8, string? apiKey = null, Func<ServeSettings, ServeSettings>? change = null)
    {
        var settings = new ServeSettings { Urls = "http://127.0.0.1:0", DataFolder = data ?? Fixtures.TempFolder("serve-data"), QueueCapacity = queue, ApiKey = apiKey };
        settings = change?.Invoke(settings) ?? settings;
        var host = await ServerHost.StartAsync(settings, LoadTinyEngine);
        var client = new HttpClient { BaseAddress = new Uri(host.Addresses[0]), Timeout = TimeSpan.FromSeconds(60) };
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }

        return new TestServer(host, client, settings);
    }

    /// <summary>Loads the tiny pipeline on the CPU (each server or worker its own engine).</summary>
    public static VideoEngine LoadTinyEngine() => VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(Cache.Value)));

    /// <summary>A submission's multipart body.</summary>
    public static MultipartFormDataContent Form(object? options, byte[]? image = null, string? rawOptions = null)
    {
        var form = new MultipartFormDataContent();
        if (image is not null)
        {
            var file = new ByteArrayContent(image);
            file.Headers.ContentType = new MediaTypeHeaderValue("image/png");
            form.Add(file, "image", "input.png");
        }

        var json = rawOptions ?? (options is null ? null : JsonSerializer.Serialize(options));
        if (json is not null)
        {
            form.Add(new StringContent(json), "options");
        }

        return form;
    }

    /// <summary>Submits a job; returns the response.</summary>
    public Task<HttpResponseMessage> Submit(object options, string? idempotencyKey = null, byte[]? image = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/videos") { Content = Form(options, image ?? Image) };
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        return Client.SendAsync(request, TestContext.Current.CancellationToken);
    }

    /// <summary>Submits a job that must be accepted; returns its id.</summary>
    public async Task<string> SubmitOk(object options)
    {
        using var response = await Submit(options);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("id").GetString()!;
    }

    /// <summary>The job's record.</summary>
    public async Task<JsonElement> Job(string id) =>
        await Client.GetFromJsonAsync<JsonElement>($"/v1/jobs/{id}", TestContext.Current.CancellationToken);

    /// <summary>Polls the job until <paramref name="done"/> holds (bounded by <see cref="Patience"/>); returns its record.</summary>
    public async Task<JsonElement> WaitFor(string id, Func<JsonElement, bool> done, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var job = await Job(id);
            if (done(job))
            {
                return job;
            }

            Assert.True(DateTime.UtcNow < deadline, $"job {id} did not reach '{what}' in {Patience.TotalSeconds} s; it is {job}");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>Waits for the job to end; returns its record.</summary>
    public Task<JsonElement> WaitFinal(string id) =>
        WaitFor(id, j => j.GetProperty("state").GetString() is "succeeded" or "failed" or "canceled", "a final state");

    /// <summary>Waits until the job runs its denoising loop.</summary>
    public Task<JsonElement> WaitDenoising(string id) =>
        WaitFor(id, j => j.GetProperty("progress") is { ValueKind: JsonValueKind.Object } p && p.GetProperty("stage").GetString() == "denoising" && p.GetProperty("step").GetInt32() >= 1, "denoising");

    public static string State(JsonElement job) => job.GetProperty("state").GetString()!;

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Host.DisposeAsync();
    }
}
