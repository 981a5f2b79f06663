using System.Text.Json.Serialization;
using CudaI2V.Pipeline.MemoryPlanning;

namespace CudaI2V.Server.Jobs;

/// <summary>Where a job is in its life. Serialized as the lower-case words of the API.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<JobState>))]
public enum JobState
{
    /// <summary>Waiting in the queue.</summary>
    [JsonStringEnumMemberName("queued")]
    Queued,

    /// <summary>On the engine now.</summary>
    [JsonStringEnumMemberName("running")]
    Running,

    /// <summary>Finished; its video can be downloaded.</summary>
    [JsonStringEnumMemberName("succeeded")]
    Succeeded,

    /// <summary>Ended with an error (<see cref="Job.Error"/>), or interrupted by a crash of the server.</summary>
    [JsonStringEnumMemberName("failed")]
    Failed,

    /// <summary>Canceled by a client before it finished; no output is kept.</summary>
    [JsonStringEnumMemberName("canceled")]
    Canceled,
}

/// <summary>
/// The settings a job runs with: <c>GenerationOptions</c>' names in camelCase, each filled in (defaults applied and
/// the seed drawn at submission), so a job's record says exactly what ran and a restart runs the same video.
/// </summary>
public sealed record JobSettings
{
    /// <summary>What the video should show.</summary>
    public required string Prompt { get; init; }

    /// <summary>What it should not show (empty when not given).</summary>
    public string NegativePrompt { get; init; } = "";

    /// <summary>Frames of video.</summary>
    public int Frames { get; init; }

    /// <summary>Denoising steps.</summary>
    public int Steps { get; init; }

    /// <summary>Classifier-free guidance scale.</summary>
    public double Guidance { get; init; }

    /// <summary>Frame rate: the model's conditioning and the video's.</summary>
    public int Fps { get; init; }

    /// <summary>Video height in pixels.</summary>
    public int Height { get; init; }

    /// <summary>Video width in pixels.</summary>
    public int Width { get; init; }

    /// <summary>Seed of the noise generator.</summary>
    public ulong Seed { get; init; }

    /// <summary>Frames the VAE decodes at a time.</summary>
    public int DecodeChunk { get; init; }

    /// <summary>DDIM eta (0 is deterministic).</summary>
    public float Eta { get; init; }

    /// <summary>The preset the job asked for (<c>release</c>, <c>fast</c>, <c>draft</c>), whose sampler, steps and guidance fill in those not given; null for none.</summary>
    public string? Preset { get; init; }

    /// <summary>The sampler (<c>ddim</c>, <c>dpmpp-2m</c>, <c>unipc</c>, <c>euler</c>), or null for the one the model folder's scheduler config names.</summary>
    public string? Sampler { get; init; }

    /// <summary>Step caching's N (1: every step in full); docs/step-caching.md.</summary>
    public int CacheInterval { get; init; } = 1;

    /// <summary>The up block whose input step caching reuses, or null for the model's last.</summary>
    public int? CacheDepth { get; init; }
}

/// <summary>Where a running job is: the engine's stage and step, and the times so far and (estimated) to go.</summary>
public sealed record JobProgress
{
    /// <summary>The stage: encodingPrompt, encodingImage, denoising, decoding (then writing the video).</summary>
    public required string Stage { get; init; }

    /// <summary>The step within the stage (denoising steps, decoded frames).</summary>
    public int Step { get; init; }

    /// <summary>Steps of the stage.</summary>
    public int TotalSteps { get; init; }

    /// <summary>Seconds since the job started running.</summary>
    public double ElapsedSeconds { get; init; }

    /// <summary>Estimated seconds left in the current stage, from its rate so far (null before its first step).</summary>
    public double? RemainingSeconds { get; init; }
}

/// <summary>
/// One job: its record as kept under <c>--data</c> (jobs/&lt;id&gt;/job.json) and as the API returns it. A job is
/// changed only by <see cref="JobManager"/>, under its lock; readers get copies.
/// </summary>
public sealed record Job
{
    /// <summary>The job's id (32 hex digits, chosen by the server).</summary>
    public required string Id { get; init; }

    /// <summary>Its state.</summary>
    public JobState State { get; init; }

    /// <summary>The settings it runs with.</summary>
    public required JobSettings Settings { get; init; }

    /// <summary>When it was submitted.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When it started running (its latest start, after a restart).</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>When it ended (succeeded, failed or canceled).</summary>
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>Where it is while running (and its last position after).</summary>
    public JobProgress? Progress { get; init; }

    /// <summary>
    /// Frames of the video decoded so far: frames 0 to <c>FramesReady - 1</c> can be read at
    /// <c>/v1/jobs/{id}/frames/{i}</c> while the job runs (the VAE decodes in chunks), all of them once it succeeded.
    /// </summary>
    public int FramesReady { get; init; }

    /// <summary>
    /// Denoising steps done at the latest latent preview (<c>/v1/jobs/{id}/preview</c>: every frame's latents mapped to
    /// RGB, as a grid, at 1/8 of the video's size), 0 before the first.
    /// </summary>
    public int PreviewStep { get; init; }

    /// <summary>Why it failed.</summary>
    public string? Error { get; init; }

    /// <summary>The memory plan it ran under, once it succeeded: the planned peak, the choices made and their cost.</summary>
    public JobMemory? Memory { get; init; }

    /// <summary>The formats its video can be downloaded in, once succeeded (mp4 where ffmpeg exists, gif, png-zip).</summary>
    public IReadOnlyList<string> Formats { get; init; } = [];

    /// <summary>The client's <c>Idempotency-Key</c>, when it gave one.</summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>The worker that ran it (its latest run) when the server is scaled out over Redis; null in one process.</summary>
    public string? Worker { get; init; }

    /// <summary>How many times the queue delivered it to a worker (more than 1 after a lost worker), when scaled out.</summary>
    public int? Deliveries { get; init; }

    /// <summary>Where the job's record is read.</summary>
    public string Url => $"/v1/jobs/{Id}";

    /// <summary>True once the job can change no more.</summary>
    [JsonIgnore]
    public bool IsFinal => State is JobState.Succeeded or JobState.Failed or JobState.Canceled;
}

/// <summary>A job's memory plan as the API returns it (<see cref="MemoryPlan"/>).</summary>
/// <param name="PeakBytes">The planned peak on the device, weights included.</param>
/// <param name="PeakStage">The stage of the peak: encode, denoise or decode.</param>
/// <param name="BudgetBytes">The budget it was planned within (null: the device's free memory).</param>
/// <param name="Choices">The memory choices in words.</param>
/// <param name="Cost">Kernel launches over the unconstrained plan's (1: no extra cost).</param>
/// <param name="ReloadedBytes">Weights uploaded again for this job because the plan frees models between stages.</param>
/// <param name="Summary">The plan's one line, as <c>generate</c> prints it.</param>
public sealed record JobMemory(long PeakBytes, string PeakStage, long? BudgetBytes, string Choices, double Cost, long ReloadedBytes, string Summary)
{
    /// <summary>The API's view of <paramref name="plan"/>.</summary>
    public static JobMemory Of(MemoryPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return new JobMemory(
            plan.Peak, plan.PeakStage.ToString().ToLowerInvariant(), plan.Budget, plan.Choices.Describe(), Math.Round(plan.Cost, 3), plan.ReloadedBytes, plan.Describe());
    }
}

/// <summary>A page of <c>GET /v1/jobs</c>: the newest first.</summary>
/// <param name="Jobs">The jobs of this page.</param>
/// <param name="Total">Jobs known to the server.</param>
/// <param name="Offset">Jobs skipped before this page.</param>
/// <param name="Limit">The page size asked for.</param>
public sealed record JobPage(IReadOnlyList<Job> Jobs, int Total, int Offset, int Limit);
