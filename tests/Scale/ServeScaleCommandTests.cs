using System.Net;
using CudaI2V.Cli;
using CudaI2V.Cli.Commands;
using CudaI2V.Server.Scale;
using CudaI2V.Tests.Server;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Scale;

/// <summary><c>cudai2v serve --role ... --redis ...</c> on the command line: its refusals, its environment variables, and an API and a worker run as commands.</summary>
[Collection(RedisProcess.Collection)]
public sealed class ServeScaleCommandTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public void Bad_scale_out_options_are_usage_errors()
    {
        var (code, _, error) = Run("serve", "--role", "worker", "--model", "/m");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--redis", error, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Usage, Run("serve", "--role", "boss", "--model", "/m").Code);
        Assert.Equal(ExitCodes.Usage, Run("serve", "--role", "api", "--redis", "redis://127.0.0.1:6379").Code);
        Assert.Equal(ExitCodes.Usage, Run("serve", "--role", "api", "--redis", "127.0.0.1:6379", "--lost-after", "0").Code);
        Assert.Equal(ExitCodes.Usage, Run("serve", "--role", "api", "--redis", "127.0.0.1:6379", "--retention", "soon").Code);
        Assert.Equal(ExitCodes.Usage, Run("serve", "--role", "api", "--redis", "127.0.0.1:6379", "--max-deliveries", "0").Code);
        Assert.Equal(ExitCodes.Usage, Run("serve", "--role", "worker", "--redis", "127.0.0.1:6379").Code);
    }

    [Fact]
    public void Flags_win_over_environment_variables_and_the_connection_takes_the_password_and_tls()
    {
        var passwordFile = Path.Combine(Fixtures.TempFolder("redis-password"), "password");
        File.WriteAllText(passwordFile, "s3cret-from-file\n");
        string?[] names = ["CUDAI2V_REDIS", "CUDAI2V_REDIS_TLS", "CUDAI2V_LOST_AFTER", "CUDAI2V_RETENTION", "CUDAI2V_MAX_DELIVERIES", "CUDAI2V_REDIS_USER"];
        try
        {
            Environment.SetEnvironmentVariable("CUDAI2V_REDIS", "redis.internal:6380");
            Environment.SetEnvironmentVariable("CUDAI2V_REDIS_TLS", "1");
            Environment.SetEnvironmentVariable("CUDAI2V_LOST_AFTER", "90s");
            Environment.SetEnvironmentVariable("CUDAI2V_RETENTION", "2h");
            Environment.SetEnvironmentVariable("CUDAI2V_MAX_DELIVERIES", "5");
            Environment.SetEnvironmentVariable("CUDAI2V_REDIS_USER", "jobs");
            var args = ParsedArgs.Parse(ServeCommand.Spec, ["--role", "worker", "--lost-after", "30", "--redis-password-file", passwordFile, "--worker-name", "gpu0"]);
            var redis = ServeScaleOptions.Redis(args, ServeScaleOptions.Role(args))!;
            Assert.Equal(("redis.internal:6380", "gpu0", 5), (redis.Endpoint, redis.WorkerName, redis.MaxDeliveries));
            Assert.Equal((TimeSpan.FromSeconds(30), TimeSpan.FromHours(2)), (redis.LostAfter, redis.Retention));
            var options = redis.Options();
            Assert.True(options.Ssl);
            Assert.Equal(("jobs", "s3cret-from-file"), (options.User, options.Password));
            Assert.False(options.AbortOnConnectFail);
        }
        finally
        {
            foreach (var name in names)
            {
                Environment.SetEnvironmentVariable(name!, null);
            }
        }

        Assert.Equal(TimeSpan.FromDays(7), RedisSettings.ParseDuration("7d"));
        Assert.Equal(TimeSpan.FromMinutes(1.5), RedisSettings.ParseDuration("1.5m"));
        Assert.Throws<FormatException>(() => RedisSettings.ParseDuration("-3s"));
    }

    [Fact]
    public async Task An_api_started_before_redis_waits_for_it_and_a_worker_command_runs_its_jobs()
    {
        if (RedisProcess.Missing is { } why)
        {
            Assert.Skip(why);
        }

        using var redis = RedisProcess.Start(start: false);
        var data = Fixtures.TempFolder("scale-cli");
        var cache = Fixtures.TempFolder("scale-cli-cache");
        using var stop = new CancellationTokenSource();
        using Capture apiOut = new(), apiErr = new(), workerOut = new(), workerErr = new();
        string[] common = ["--redis", redis.Endpoint, "--redis-prefix", "cli", "--data", data, "--cache-dir", cache, "--urls", "http://127.0.0.1:0"];
        var api = Task.Run(() => CliApp.Run(["serve", "--role", "api", .. common], apiOut.Writer, apiErr.Writer, stop.Token), Token);
        var worker = Task.Run(() => CliApp.Run(["serve", "--role", "worker", "--model", Fixtures.PipelineTiny, "--device", "cpu", .. common], workerOut.Writer, workerErr.Writer, stop.Token), Token);
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri(await Address(apiOut, apiErr)), Timeout = TimeSpan.FromSeconds(30) };
            using var workerClient = new HttpClient { BaseAddress = new Uri(await Address(workerOut, workerErr)), Timeout = TimeSpan.FromSeconds(30) };
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/readyz", Token)).StatusCode);
            redis.Run();
            await ScaleCluster.Eventually(async () => (await client.GetAsync("/readyz", Token)).StatusCode == HttpStatusCode.OK, "the API is ready once Redis answers");
            await ScaleCluster.Eventually(async () => (await workerClient.GetAsync("/readyz", Token)).StatusCode == HttpStatusCode.OK, "the worker is ready once its engine is loaded", 90);
            Assert.Equal(HttpStatusCode.NotFound, (await workerClient.GetAsync("/v1/jobs", Token)).StatusCode);

            using var form = TestServer.Form(new { prompt = "a cat", frames = 1, steps = 1, height = 16, width = 16, guidance = 1.0 }, TestServer.Image);
            using var submitted = await client.PostAsync("/v1/videos", form, Token);
            Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
            var location = submitted.Headers.Location!.ToString();
            await ScaleCluster.Eventually(async () => (await client.GetStringAsync(location, Token)).Contains("\"state\":\"succeeded\"", StringComparison.Ordinal), "the job ran on the worker", 90);
        }
        finally
        {
            await stop.CancelAsync();
        }

        Assert.Equal(ExitCodes.Success, await api.WaitAsync(TimeSpan.FromSeconds(60), Token));
        Assert.Equal(ExitCodes.Success, await worker.WaitAsync(TimeSpan.FromSeconds(60), Token));
    }

    private static async Task<string> Address(Capture output, Capture error)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var text = output.Text;
            if (text.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("http://127.0.0.1:", StringComparison.Ordinal)) is { } line)
            {
                return line;
            }

            Assert.True(DateTime.UtcNow < deadline, $"no address within 60 s: {error.Text}");
            await Task.Delay(50, Token);
        }
    }

    /// <summary>What a command writes from its threads while the test reads it (reads take the writer's lock).</summary>
    private sealed class Capture : IDisposable
    {
        private readonly StringWriter _inner = new();

        public Capture() => Writer = TextWriter.Synchronized(_inner);

        public TextWriter Writer { get; }

        public string Text
        {
            get
            {
                lock (Writer)
                {
                    return _inner.ToString();
                }
            }
        }

        public void Dispose() => _inner.Dispose();
    }
}
