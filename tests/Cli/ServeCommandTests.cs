using System.Net;
using CudaI2V.Cli;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Cli;

/// <summary><c>cudai2v serve</c> on the command line: refusals before anything loads, and a start and stop on loopback.</summary>
public sealed class ServeCommandTests
{
    [Theory]
    [InlineData("http://0.0.0.0:8080")]
    [InlineData("http://[::]:8080")]
    [InlineData("http://*:8080")]
    [InlineData("http://+:8080")]
    [InlineData("http://gpu-box.example:8080")]
    public void Listening_beyond_loopback_without_an_api_key_exits_2_before_loading_the_model(string urls)
    {
        // The model folder does not exist: a usage error (2), not a model error (3), shows nothing was loaded.
        var (code, _, error) = Run("serve", "--model", "/nonexistent/model", "--urls", urls);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--api-key", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_serve_options_are_usage_errors()
    {
        Assert.Equal(ExitCodes.Usage, Run("serve", "--model", "/m", "--api-key", "short").Code);
        Assert.Equal(ExitCodes.Usage, Run("serve", "--model", "/m", "--api-key", "long-enough-key", "--api-key-file", "/k").Code);
        Assert.Equal(ExitCodes.Usage, Run("serve", "--model", "/m", "--queue", "0").Code);
        Assert.Equal(ExitCodes.Usage, Run("serve", "--urls", "127.0.0.1:8080", "--model", "/m").Code);
        Assert.Equal(ExitCodes.Usage, Run("serve").Code);
        Assert.Equal(ExitCodes.BadInput, Run("serve", "--model", "/nonexistent/model", "--data", Fixtures.TempFolder("serve-cli")).Code);
    }

    [Fact]
    public async Task Serve_listens_on_loopback_becomes_ready_and_stops_on_cancel()
    {
        var data = Path.Combine(Fixtures.TempFolder("serve-cli"), "data");
        using var output = new SynchronizedOutput();
        using var stop = new CancellationTokenSource();
        var run = Task.Run(() => CliApp.Run(
            ["serve", "--model", Fixtures.PipelineTiny, "--device", "cpu", "--urls", "http://127.0.0.1:0", "--data", data, "--cache-dir", Fixtures.TempFolder("serve-cli-cache")],
            output.Out, output.Error, stop.Token), TestContext.Current.CancellationToken);
        try
        {
            var address = await output.WaitForLine(l => l.StartsWith("http://127.0.0.1:", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
            using var client = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(30) };
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while ((await client.GetAsync("/readyz", TestContext.Current.CancellationToken)).StatusCode != HttpStatusCode.OK)
            {
                Assert.True(DateTime.UtcNow < deadline, "the server was not ready within 60 s: " + output.ErrorText);
                await Task.Delay(50, TestContext.Current.CancellationToken);
            }

            Assert.True(Directory.Exists(Path.Combine(data, "jobs")), "--data is created when missing");
        }
        finally
        {
            await stop.CancelAsync();
        }

        Assert.Equal(ExitCodes.Success, await run.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken));
        Assert.Contains("listening on http://127.0.0.1:", output.ErrorText, StringComparison.Ordinal);
    }

    /// <summary>stdout and stderr that a test reads while the command writes.</summary>
    private sealed class SynchronizedOutput : IDisposable
    {
        private readonly StringWriter _out = new();
        private readonly StringWriter _error = new();

        public SynchronizedOutput()
        {
            Out = TextWriter.Synchronized(_out);
            Error = TextWriter.Synchronized(_error);
        }

        public TextWriter Out { get; }

        public TextWriter Error { get; }

        /// <summary>What was written to <see cref="Error"/> so far (the wrapper's own ToString names its type).</summary>
        public string ErrorText
        {
            get
            {
                lock (Error)
                {
                    return _error.ToString();
                }
            }
        }

        public void Dispose()
        {
            _out.Dispose();
            _error.Dispose();
        }

        public async Task<string> WaitForLine(Func<string, bool> match, TimeSpan patience)
        {
            var deadline = DateTime.UtcNow + patience;
            while (true)
            {
                string text;
                lock (Out)
                {
                    text = _out.ToString();
                }

                var line = text.Split('\n').Select(l => l.Trim()).FirstOrDefault(match);
                if (line is not null)
                {
                    return line;
                }

                Assert.True(DateTime.UtcNow < deadline, $"no matching line within {patience.TotalSeconds} s; stderr: {ErrorText}");
                await Task.Delay(50, TestContext.Current.CancellationToken);
            }
        }
    }
}
