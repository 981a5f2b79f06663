using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Server.Api;
using CudaI2V.Server.Jobs;
using CudaI2V.Server.Scale;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace CudaI2V.Server;

/// <summary>
/// A running <c>cudai2v serve</c>: Kestrel with the API and the page, the job queue over the data folder (in process,
/// or a Redis stream when scaled out: docs/scale-out.md), and one worker for the engine. The server listens first and
/// loads the engine beside it, so <c>/readyz</c> answers 503 until the model is loaded; jobs submitted meanwhile wait
/// in the queue. The api role loads no engine and runs no worker; the worker role listens only when given URLs (and
/// then serves health and metrics only). Disposing it stops listening, puts a running job back in the queue (it runs
/// after a restart) and disposes the engine.
/// </summary>
public sealed class ServerHost : IAsyncDisposable
{
    private static readonly string[] PageFiles = ["index.html", "app.js", "style.css"];

    private readonly WebApplication? _app;
    private readonly CancellationTokenSource _stop;
    private readonly Task _worker;
    private readonly Task _upkeep;
    private readonly ServerState _state;
    private readonly TaskCompletionSource _shutdown = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ServerHost(WebApplication? app, ServerState state, CancellationTokenSource stop, Task worker, Task upkeep)
    {
        _app = app;
        _state = state;
        _stop = stop;
        _worker = worker;
        _upkeep = upkeep;
    }

    /// <summary>The addresses it listens on (with the real port where 0 was asked for); none for a worker without URLs.</summary>
    public IReadOnlyList<string> Addresses => _app is null ? [] : [.. _app.Urls];

    /// <summary>The jobs.</summary>
    public IJobBroker Jobs => _state.Jobs;

    /// <summary>The counters of this process.</summary>
    public ServerMetrics Metrics => _state.Metrics;

    /// <summary>The engine: completes when loaded, faults when loading failed.</summary>
    public Task<VideoEngine> Engine => _state.Engine;

    /// <summary>
    /// Starts listening on <paramref name="settings"/>' URLs, then loads the engine with <paramref name="loadEngine"/>
    /// on a thread of its own. <paramref name="log"/> receives one-line notes.
    /// </summary>
    public static async Task<ServerHost> StartAsync(ServeSettings settings, Func<VideoEngine> loadEngine, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(loadEngine);
        var role = settings.Role;
        if (role != ServeRole.All && settings.Redis is null)
        {
            throw new ArgumentException($"The {role.ToString().ToLowerInvariant()} role needs Redis (--redis HOST:PORT); without it, serve runs as one process (role all).", nameof(settings));
        }

        var store = new JobStore(settings.DataFolder);
        IJobBroker jobs = settings.Redis is { } redis
            ? await RedisJobBroker.ConnectAsync(store, settings.QueueCapacity, redis, log).ConfigureAwait(false)
            : new JobManager(store, settings.QueueCapacity, log);
        var loaded = new TaskCompletionSource<VideoEngine>(TaskCreationOptions.RunContinuationsAsynchronously);
        var metrics = new ServerMetrics();
        var state = new ServerState(settings, jobs, metrics, loaded.Task);
        WebApplication? app = null;
        if (settings.Urls.Length > 0)
        {
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory, Args = [] });
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls(settings.Urls);
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = settings.MaxUploadBytes);
            builder.Services.Configure<FormOptions>(form => form.MultipartBodyLengthLimit = settings.MaxUploadBytes);
            app = builder.Build();
            Map(app, state);
            await app.StartAsync().ConfigureAwait(false);
        }

        var stop = new CancellationTokenSource();
        var worker = role == ServeRole.Api ? Task.CompletedTask : new JobWorker(jobs, loaded.Task, metrics, log).Run(stop.Token);
        var upkeep = role != ServeRole.Worker && jobs is RedisJobBroker queue ? queue.RunUpkeepAsync(stop.Token) : Task.CompletedTask;
        var host = new ServerHost(app, state, stop, worker, upkeep);
        if (role == ServeRole.Api)
        {
            return host;
        }

        _ = Task.Factory.StartNew(
            () =>
            {
                try
                {
                    loaded.SetResult(loadEngine());
                }
                catch (Exception e)
                {
                    loaded.SetException(e);
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
        return host;
    }

    /// <summary>Waits until the server stops (the host's shutdown, or <paramref name="cancel"/>).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancel) => _app is null ? _shutdown.Task.WaitAsync(cancel) : _app.WaitForShutdownAsync(cancel);

    /// <summary>
    /// Ends this process's part as if it were killed (tests): with Redis, its worker stops heartbeating and writes and
    /// acknowledges nothing, so another worker re-claims its job after the lost-worker timeout. Dispose it after.
    /// </summary>
    internal void Kill() => (_state.Jobs as RedisJobBroker)?.Kill();

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync().ConfigureAwait(false);
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await _worker.ConfigureAwait(false);
        await _upkeep.ConfigureAwait(false);
        if (_app is not null)
        {
            await _app.DisposeAsync().ConfigureAwait(false);
        }

        _shutdown.TrySetResult();
        try
        {
            if (_state.Settings.Role == ServeRole.Api)
            {
                throw new OperationCanceledException("no engine");
            }

            // A load still under way is waited for, so that what it allocated is released.
            (await _state.Engine.ConfigureAwait(false)).Dispose();
        }
        catch (Exception) when (_state.Engine.IsFaulted || _state.Settings.Role == ServeRole.Api)
        {
            // Nothing was loaded to release; /readyz and the worker reported the failure while the server ran.
        }

        _stop.Dispose();
        _state.Jobs.Dispose();
    }

    private static void Map(WebApplication app, ServerState state)
    {
        app.Use((context, next) => Guard(context, next, state.Settings.ApiKey));
        var health = new HealthEndpoints(state);
        app.MapGet("/healthz", HealthEndpoints.Health);
        app.MapGet("/readyz", health.Ready);
        app.MapGet("/metrics", health.Metrics);
        if (state.Settings.Role == ServeRole.Worker)
        {
            // A worker's HTTP is for its health and metrics; the jobs are the API's.
            app.MapFallback(context => Responses.Problem(context, StatusCodes.Status404NotFound, "Not found", "This is a worker: it serves /healthz, /readyz and /metrics; send jobs to the API (docs/scale-out.md)."));
            return;
        }

        var submit = new SubmitEndpoint(state);
        var jobs = new JobEndpoints(state);
        app.MapPost("/v1/videos", submit.Handle);
        app.MapGet("/v1/jobs", jobs.List);
        app.MapGet("/v1/jobs/{id}", jobs.Get);
        app.MapGet("/v1/jobs/{id}/events", jobs.Events);
        app.MapPost("/v1/jobs/{id}/cancel", jobs.Cancel);
        app.MapGet("/v1/jobs/{id}/video", jobs.Video);
        app.MapGet("/v1/jobs/{id}/frames/{index}", jobs.Frame);
        app.MapGet("/v1/jobs/{id}/preview", jobs.Preview);
        foreach (var file in PageFiles)
        {
            var bytes = PageFile(file);
            var type = file.EndsWith(".html", StringComparison.Ordinal) ? "text/html; charset=utf-8" : file.EndsWith(".js", StringComparison.Ordinal) ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8";
            RequestDelegate serve = context =>
            {
                context.Response.ContentType = type;
                context.Response.Headers.CacheControl = "no-cache";
                return context.Response.Body.WriteAsync(bytes, context.RequestAborted).AsTask();
            };
            app.MapGet(file == "index.html" ? "/" : "/" + file, serve);
        }

        app.MapFallback(context => Responses.Problem(context, StatusCodes.Status404NotFound, "Not found", $"There is no {context.Request.Method} {context.Request.Path} here; see docs/serve.md for the API."));
    }

    /// <summary>
    /// Every request but the page's own files needs the API key when one is set; problems thrown by an endpoint
    /// become their problem detail, anything else a 500 that names it.
    /// </summary>
    private static async Task Guard(HttpContext context, Func<Task> next, string? key)
    {
        var path = context.Request.Path.Value ?? "/";
        var isPage = path == "/" || PageFiles.Any(f => path == "/" + f);
        if (key is not null && !isPage && !Authorized(context.Request.Headers.Authorization, key))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await Responses.Problem(context, StatusCodes.Status401Unauthorized, "Unauthorized", "This server needs its API key: send 'Authorization: Bearer <key>'.").ConfigureAwait(false);
            return;
        }

        try
        {
            await next().ConfigureAwait(false);
        }
        catch (ApiProblemException e) when (!context.Response.HasStarted)
        {
            await Responses.Problem(context, e.Body).ConfigureAwait(false);
        }
        catch (Exception e) when (!context.Response.HasStarted && e is RedisException or TimeoutException)
        {
            context.Response.Headers.RetryAfter = "5";
            await Responses.Problem(context, StatusCodes.Status503ServiceUnavailable, "Queue unavailable", $"The job queue (Redis) does not answer: {e.Message}. Retry later.").ConfigureAwait(false);
        }
        catch (Exception e) when (!context.Response.HasStarted && e is not OperationCanceledException)
        {
            await Responses.Problem(context, StatusCodes.Status500InternalServerError, "Server error", $"{e.GetType().Name}: {e.Message}").ConfigureAwait(false);
        }
    }

    private static bool Authorized(string? header, string key)
    {
        const string Scheme = "Bearer ";
        if (header is null || !header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[Scheme.Length..].Trim()), Encoding.UTF8.GetBytes(key));
    }

    private static byte[] PageFile(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("wwwroot/" + name)
            ?? throw new InvalidOperationException($"The page file {name} is not embedded in the server assembly.");
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }
}
