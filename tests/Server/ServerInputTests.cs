using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using CudaI2V.Server;

namespace CudaI2V.Tests.Server;

/// <summary>Every bad request is answered with a 4xx problem detail that names the field at fault.</summary>
public sealed class ServerInputTests(ServerInputTests.SharedServer shared) : IClassFixture<ServerInputTests.SharedServer>
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public static TheoryData<string, string, string> BadOptions() => new()
    {
        { "missing prompt", """{"frames": 2}""", "options.prompt" },
        { "empty prompt", """{"prompt": "  "}""", "options.prompt" },
        { "prompt not a string", """{"prompt": 3}""", "options.prompt" },
        { "zero frames", """{"prompt": "a", "frames": 0}""", "options.frames" },
        { "too many frames", """{"prompt": "a", "frames": 100000}""", "options.frames" },
        { "fractional steps", """{"prompt": "a", "steps": 2.5}""", "options.steps" },
        { "steps as text", """{"prompt": "a", "steps": "2"}""", "options.steps" },
        { "negative guidance", """{"prompt": "a", "guidance": -1}""", "options.guidance" },
        { "height not a multiple of 8", """{"prompt": "a", "height": 30}""", "options.height" },
        { "width too large", """{"prompt": "a", "width": 65536}""", "options.width" },
        { "negative seed", """{"prompt": "a", "seed": -1}""", "options.seed" },
        { "zero fps", """{"prompt": "a", "fps": 0}""", "options.fps" },
        { "eta above 1", """{"prompt": "a", "eta": 2}""", "options.eta" },
        { "unknown option", """{"prompt": "a", "frame": 2}""", "options.frame" },
        { "unknown sampler", """{"prompt": "a", "sampler": "plms"}""", "options.sampler" },
        { "sampler as a number", """{"prompt": "a", "sampler": 2}""", "options.sampler" },
        { "zero cache interval", """{"prompt": "a", "cacheInterval": 0}""", "options.cacheInterval" },
        { "negative cache depth", """{"prompt": "a", "cacheDepth": -1}""", "options.cacheDepth" },
        { "cache depth as text", """{"prompt": "a", "cacheDepth": "3"}""", "options.cacheDepth" },
        { "not JSON", """{"prompt": """, "options" },
        { "not an object", """["a cat"]""", "options" },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public async Task Bad_options_are_refused_naming_the_field(string what, string options, string field)
    {
        var server = shared.Server;
        using var response = await server.Client.PostAsync("/v1/videos", TestServer.Form(null, TestServer.Image, options), Token);
        await AssertProblem(response, HttpStatusCode.BadRequest, field, what);
    }

    [Fact]
    public async Task Bad_images_and_bodies_are_refused_naming_the_field()
    {
        var server = shared.Server;
        var options = TestServer.Quick();
        using (var response = await server.Client.PostAsync("/v1/videos", TestServer.Form(options), Token))
        {
            await AssertProblem(response, HttpStatusCode.BadRequest, "image", "no image");
        }

        using (var response = await server.Client.PostAsync("/v1/videos", TestServer.Form(options, Encoding.UTF8.GetBytes("not an image at all")), Token))
        {
            await AssertProblem(response, HttpStatusCode.BadRequest, "image", "not an image");
        }

        using (var response = await server.Client.PostAsync("/v1/videos", TestServer.Form(null, TestServer.Image), Token))
        {
            await AssertProblem(response, HttpStatusCode.BadRequest, "options", "no options");
        }

        using (var response = await server.Client.PostAsync("/v1/videos", new StringContent("""{"prompt": "a"}""", Encoding.UTF8, "application/json"), Token))
        {
            await AssertProblem(response, HttpStatusCode.UnsupportedMediaType, null, "JSON instead of multipart");
        }

        // As curl does for large bodies, the client waits for '100 Continue' before sending, so the refusal arrives
        // before the body is sent (without it, the server answers 413 and closes the connection mid-upload).
        using (var large = new HttpRequestMessage(HttpMethod.Post, "/v1/videos") { Content = TestServer.Form(options, new byte[300 * 1024]) })
        {
            large.Headers.ExpectContinue = true;
            await AssertProblem(await server.Client.SendAsync(large, Token), HttpStatusCode.RequestEntityTooLarge, "image", "an upload over the limit");
        }

        var wide = new MemoryStream();
        using (var image = new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.Rgb24>(200, 8))
        {
            SixLabors.ImageSharp.ImageExtensions.SaveAsPng(image, wide);
        }

        using (var response = await server.Client.PostAsync("/v1/videos", TestServer.Form(options, wide.ToArray()), Token))
        {
            await AssertProblem(response, HttpStatusCode.BadRequest, "image", "an image wider than the limit");
        }

        using var keyed = new HttpRequestMessage(HttpMethod.Post, "/v1/videos") { Content = TestServer.Form(options, TestServer.Image) };
        keyed.Headers.Add("Idempotency-Key", new string('k', 201));
        await AssertProblem(await server.Client.SendAsync(keyed, Token), HttpStatusCode.BadRequest, "Idempotency-Key", "an overlong idempotency key");
    }

    [Fact]
    public async Task Bad_ids_formats_and_pages_are_refused_naming_the_field()
    {
        var server = shared.Server;
        await AssertProblem(await server.Client.GetAsync("/v1/jobs/../../etc/passwd", Token), HttpStatusCode.NotFound, null, "a path as id");
        await AssertProblem(await server.Client.GetAsync("/v1/jobs/nope", Token), HttpStatusCode.NotFound, "id", "a malformed id");
        await AssertProblem(await server.Client.GetAsync("/v1/jobs/0123456789abcdef0123456789abcdef/video", Token), HttpStatusCode.NotFound, "id", "an unknown id");
        await AssertProblem(await server.Client.PostAsync("/v1/jobs/0123456789abcdef0123456789abcdef/cancel", null, Token), HttpStatusCode.NotFound, "id", "cancel of an unknown id");
        await AssertProblem(await server.Client.GetAsync("/v1/jobs?limit=0", Token), HttpStatusCode.BadRequest, "limit", "a zero page");
        await AssertProblem(await server.Client.GetAsync("/v1/jobs?offset=-3", Token), HttpStatusCode.BadRequest, "offset", "a negative offset");
        await AssertProblem(await server.Client.GetAsync("/v1/nothing", Token), HttpStatusCode.NotFound, null, "an unknown path");

        var id = await server.SubmitOk(TestServer.Quick(steps: 1, frames: 1));
        await AssertProblem(await server.Client.GetAsync($"/v1/jobs/{id}/video?format=avi", Token), HttpStatusCode.BadRequest, "format", "an unknown format");
        await server.WaitFinal(id);
        await AssertProblem(await server.Client.GetAsync($"/v1/jobs/{id}/video?format=avi", Token), HttpStatusCode.BadRequest, "format", "an unknown format");
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080", "")]
    [InlineData("http://localhost:5000;http://[::1]:5001", "")]
    [InlineData("http://127.3.4.5:0", "")]
    [InlineData("http://0.0.0.0:8080", "0.0.0.0")]
    [InlineData("http://[::]:8080", "::")]
    [InlineData("http://*:8080", "*")]
    [InlineData("http://+:8080", "+")]
    [InlineData("http://example.org:8080", "example.org")]
    [InlineData("http://127.0.0.1:8080;http://10.1.2.3:80", "10.1.2.3")]
    public void Only_loopback_addresses_count_as_private(string urls, string open) =>
        Assert.Equal(open, string.Join(",", ServeSettings.NonLoopbackHosts(urls)));

    private static async Task AssertProblem(HttpResponseMessage response, HttpStatusCode status, string? field, string what)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(Token);
            Assert.True(response.StatusCode == status, $"{what}: expected {(int)status}, got {(int)response.StatusCode}: {body}");
            Assert.Equal(new MediaTypeHeaderValue("application/problem+json").MediaType, response.Content.Headers.ContentType?.MediaType);
            var problem = JsonDocument.Parse(body).RootElement;
            Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
            Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()), what);
            if (field is not null)
            {
                Assert.True(problem.GetProperty("field").GetString() == field, $"{what}: expected the field {field}: {body}");
            }
        }
    }

    /// <summary>One server for the input tests (they leave nothing queued), with small limits to test against.</summary>
    public sealed class SharedServer : IAsyncLifetime
    {
        private TestServer? _server;

        public TestServer Server => _server ?? throw new InvalidOperationException("The server has not started.");

        public async ValueTask InitializeAsync() =>
            _server = await TestServer.StartAsync(change: s => s with { MaxUploadBytes = 256 * 1024, MaxImageSide = 128 });

        public async ValueTask DisposeAsync()
        {
            if (_server is not null)
            {
                await _server.DisposeAsync();
            }
        }
    }
}
