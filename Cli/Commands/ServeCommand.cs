using CudaI2V.Cli.Demo;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Loader;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Runtime.Caching;
using CudaI2V.Server;
using CudaI2V.Server.Scale;

namespace CudaI2V.Cli.Commands;

/// <summary><c>cudai2v serve</c>: the engine behind an HTTP API and a web page (docs/serve.md).</summary>
internal static class ServeCommand
{
    public static CommandSpec Spec { get; } = new(
        "serve",
        "Serve the engine over HTTP: a job API (submit, progress, cancel, download) and a web page.",
        "--model <folder> [--urls http://127.0.0.1:8080] [--data <folder>] [--queue <n>] [options]   |   --demo",
        [
            new OptionSpec("model", "folder", "The pipeline folder (model_index.json and its components).", Letter: 'm'),
            new OptionSpec("demo", null, "Serve the small random-weight demo pipeline (no download): the videos are noise-like."),
            new OptionSpec("urls", "urls", "Where to listen, ';'-separated. An address beyond this machine needs --api-key.", Default: ServeSettings.DefaultUrls),
            new OptionSpec("data", "folder", "Where job records and videos are kept (created when missing); they survive a restart.", Default: "./cudai2v-data"),
            new OptionSpec("queue", "n", "Jobs that may wait; a submission beyond that gets 503 with Retry-After.", Default: "16"),
            new OptionSpec("api-key", "key", "Every request must carry 'Authorization: Bearer <key>'."),
            new OptionSpec("api-key-file", "file", "Read the API key from a file (keeps it out of the process list)."),
            new OptionSpec("max-upload-mib", "n", "The largest upload accepted; larger ones get 413.", Default: "20"),
            new OptionSpec("device", "auto|cpu|cuda", "Where the engine runs: the GPU when one works (auto), the fp32 CPU reference, or the GPU only.", Default: "auto"),
            new OptionSpec("variant", "fp32|fp16", "Which weight files to load where both exist.", Default: "fp32 on the CPU"),
            new OptionSpec("vae-precision", "auto|model|fp32", GenerateCommand.VaePrecisionHelp, Default: "auto"),
            new OptionSpec("dtype", "fp16|bf16|fp32", "The GPU's storage type.", Default: "fp16"),
            new OptionSpec("attention", "gemm|flash", "The GPU's attention implementation.", Default: MatrixOpSet.DefaultAttention),
            new OptionSpec("no-cuda-graphs", null, "On the GPU, launch the UNet step directly instead of replaying a CUDA graph."),
            new OptionSpec("memory-budget", "size", "The most device memory each job may use, weights included (24GiB, 8GiB): jobs hold less at once, more slowly, to fit; see 'cudai2v plan'.", Default: "the free memory"),
            new OptionSpec("cache-dir", "folder", "Where built models and caches are kept.", Default: "$CUDAI2V_CACHE_DIR or the user cache folder"),
            .. ServeScaleOptions.Specs,
        ],
        Run,
        "The server listens at once and loads the model beside it: /readyz answers 503 until it is loaded. One worker runs\n"
        + "the queued jobs in order. Ctrl+C stops it; a job that was running is queued again and runs after the restart.\n"
        + "Open the printed address in a browser for the page; the API is described in docs/serve.md.\n"
        + "Scaled out: one 'serve --role api --redis HOST:PORT' and any number of 'serve --role worker --redis HOST:PORT',\n"
        + "all with the same --data on shared storage (docs/scale-out.md). A worker serves HTTP (health, metrics) only with --urls.");

    private static int Run(ParsedArgs args, CliContext context)
    {
        var role = ServeScaleOptions.Role(args);
        var redis = ServeScaleOptions.Redis(args, role);
        var urls = args.Get("urls", role == ServeRole.Worker ? "" : ServeSettings.DefaultUrls)!;
        IReadOnlyList<string> open;
        try
        {
            open = ServeSettings.NonLoopbackHosts(urls);
        }
        catch (FormatException e)
        {
            throw new UsageException($"--urls: {e.Message}");
        }

        var key = ApiKey(args);
        if (open.Count > 0 && key is null)
        {
            throw new UsageException(
                $"--urls {urls} listens beyond this machine ({string.Join(", ", open)}) with no API key; anyone who reaches it could use the GPU. "
                + "Add --api-key <key> or --api-key-file <file>, or listen on 127.0.0.1.");
        }

        var demo = args.Has("demo");
        if (demo && args.Has("model"))
        {
            throw new UsageException("Give --model <folder> or --demo, not both.");
        }

        if (!demo && !args.Has("model") && role != ServeRole.Api)
        {
            throw new UsageException("'serve' needs --model <folder>, or --demo for the small random-weight pipeline (the api role needs neither).");
        }

        var queue = args.GetInt32("queue", 16, 1, 10_000);
        var maxUpload = args.GetInt32("max-upload-mib", 20, 1, 1024);
        var device = args.Choice("device", "auto", Backends.Devices);
        var dtype = args.GetGpuDType(allowFp32: true);
        var attention = args.GetAttention();
        var vaePrecision = args.GetVaePrecision();
        var variant = args.Variant();
        var cache = CacheRoot.Resolve(args.Get("cache-dir"));
        var model = role == ServeRole.Api ? null : ModelDirectory.Open(demo ? DemoModel.Ensure(cache.Path) : args.Get("model")!);
        var settings = new ServeSettings
        {
            Urls = urls,
            Role = role,
            Redis = redis,
            DataFolder = Path.GetFullPath(args.Get("data", "cudai2v-data")!),
            QueueCapacity = queue,
            ApiKey = key,
            MaxUploadBytes = maxUpload * 1024L * 1024,
            Defaults = demo ? new JobDefaults { Frames = 4, Steps = 3, Height = 40, Width = 56 } : new JobDefaults(),
        };

        var budget = args.GetByteSize("memory-budget");
        void Log(string line) => context.Error.WriteLine($"cudai2v serve: {line}");
        VideoEngine Load()
        {
            var ops = Backends.Create(device, cache, context.Error, dtype, attention);
            var engine = VideoEngineLoader.Load(model!, new EngineLoadOptions(cache, variant, Log, ops, vaePrecision, MemoryBudget: budget));
            engine.UseGraphs = !args.Has("no-cuda-graphs");
            return engine;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.Cancellation);
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            return Serve(settings, Load, context, Log, stop.Token).GetAwaiter().GetResult();
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static async Task<int> Serve(ServeSettings settings, Func<VideoEngine> load, CliContext context, Action<string> log, CancellationToken stop)
    {
        var host = await ServerHost.StartAsync(settings, load, log).ConfigureAwait(false);
        await using (host.ConfigureAwait(false))
        {
            foreach (var address in host.Addresses)
            {
                context.Out.WriteLine(address);
            }

            context.Out.Flush();
            var where = settings.Redis is { } redis ? $"; role {settings.Role.ToString().ToLowerInvariant()}, queue in Redis at {redis.Endpoint} (worker name {redis.WorkerName})" : "";
            log($"listening on {(host.Addresses.Count == 0 ? "no address (a worker without --urls)" : string.Join(", ", host.Addresses))}; jobs kept in {settings.DataFolder}{where}"
                + (settings.Role == ServeRole.Api ? "." : "; loading the model (/readyz says when it is ready)."));
            try
            {
                if (settings.Role == ServeRole.Api)
                {
                    await host.WaitForShutdownAsync(stop).ConfigureAwait(false);
                    return ExitCodes.Success;
                }

                var engine = await host.Engine.WaitAsync(stop).ConfigureAwait(false);
                log($"ready: the engine runs on {engine.Ops.Memory.Description}. Ctrl+C stops the server.");
            }
            catch (OperationCanceledException)
            {
                log("stopped.");
                return ExitCodes.Success;
            }
            catch (Exception e)
            {
                log($"the model did not load: {e.Message}");
                return e is ModelFileException or IOException or NoGpuException ? ExitCodes.BadInput : ExitCodes.Failed;
            }

            try
            {
                await host.WaitForShutdownAsync(stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Ctrl+C or the caller's cancellation: stop below.
            }

            log("stopping; a running job goes back to the queue.");
            return ExitCodes.Success;
        }
    }

    private static string? ApiKey(ParsedArgs args)
    {
        if (args.Has("api-key") && args.Has("api-key-file"))
        {
            throw new UsageException("Give --api-key or --api-key-file, not both.");
        }

        var key = args.Has("api-key-file") ? File.ReadAllText(args.Get("api-key-file")!).Trim() : args.Get("api-key");
        if (key is not null && key.Length < 8)
        {
            throw new UsageException("The API key must be 8 characters or more.");
        }

        return key;
    }
}
