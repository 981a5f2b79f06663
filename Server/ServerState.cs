using CudaI2V.Pipeline.Engine;
using CudaI2V.Server.Jobs;

namespace CudaI2V.Server;

/// <summary>What the endpoints share: the settings, the jobs, the counters and the engine (loading, loaded or failed).</summary>
internal sealed class ServerState(ServeSettings settings, IJobBroker jobs, ServerMetrics metrics, Task<VideoEngine> engine)
{
    public ServeSettings Settings { get; } = settings;

    public IJobBroker Jobs { get; } = jobs;

    public ServerMetrics Metrics { get; } = metrics;

    public Task<VideoEngine> Engine { get; } = engine;

    /// <summary>The engine once loaded, else null.</summary>
    public VideoEngine? LoadedEngine => Engine.IsCompletedSuccessfully ? Engine.Result : null;

    /// <summary>Why the engine failed to load, or null.</summary>
    public string? EngineFailed => Engine.IsFaulted ? Engine.Exception!.InnerException!.Message : null;
}
