using CudaI2V.Kernels;
using CudaI2V.Layers.Clip;
using CudaI2V.Layers.UNet;
using CudaI2V.Layers.Vae;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Pipeline.MemoryPlanning;
using CudaI2V.Pipeline.Scheduling;

namespace CudaI2V.Pipeline.Engine;

/// <summary>
/// The image-to-video engine an application embeds: load the models once, then generate many videos. It runs
/// diffusers' I2VGen-XL pipeline step by step (docs/i2vgenxl-spec.md section 2): prompt embeddings (negative first),
/// the CLIP image embedding (zeros for the negative half), the VAE latent of the image and the frame-position ramp of
/// the other frames, fps conditioning, the sampler (DDIM by default) with classifier-free guidance as one batch, then the VAE decoder in
/// chunks of frames. Everything that does not change between steps is computed once per request, and each request
/// plans its memory before any work (<see cref="GenerationRequest"/>). One request at a time per engine: a second
/// concurrent call throws; use one engine per concurrent stream of requests.
/// </summary>
public sealed class VideoEngine : IDisposable
{
    private readonly IDisposable? _owned;
    private int _busy;

    /// <summary>
    /// Assembles an engine from loaded parts; <paramref name="owned"/> is disposed with it (weights, sessions, backends).
    /// <paramref name="schedulerConfigPath"/> is the folder's <c>scheduler_config.json</c>: each request builds its sampler
    /// from it (the class its <c>_class_name</c> names, or the one <see cref="GenerationOptions.Sampler"/> names).
    /// <paramref name="unetShapes"/>, <paramref name="vaeShapes"/> and <paramref name="imageEncoderShapes"/> are the weight
    /// layouts (key, dtype, shape) from which each request plans its stages. Models given loaded stay loaded: every
    /// request holds all of them (<see cref="WeightResidency.KeepAll"/>).
    /// </summary>
    public VideoEngine(
        IOps ops, IPromptEncoder prompts, ClipVisionModelWithProjection imageEncoder, AutoencoderKL vae, I2VGenXLUNet unet,
        FeatureExtractorConfig features, string schedulerConfigPath, IReadOnlyList<WeightManifestEntry> unetShapes,
        IReadOnlyList<WeightManifestEntry> vaeShapes, IReadOnlyList<WeightManifestEntry> imageEncoderShapes, IDisposable? owned = null)
        : this(
            ops, prompts,
            new EngineModels(
                LoadableModel.Fixed("the image encoders", new ImageEncoderModels(imageEncoder, vae)), LoadableModel.Fixed("the UNet", unet),
                LoadableModel.Fixed("the VAE decoder", vae), vae.Ops, unet.Config, vae.Config, imageEncoder.Config, unetShapes, vaeShapes, imageEncoderShapes),
            features, schedulerConfigPath, owned)
    {
    }

    /// <summary>Assembles an engine whose models load when a request's stage needs them (<paramref name="models"/>); otherwise as the public constructor.</summary>
    internal VideoEngine(IOps ops, IPromptEncoder prompts, EngineModels models, FeatureExtractorConfig features, string schedulerConfigPath, IDisposable? owned = null)
    {
        Ops = ops ?? throw new ArgumentNullException(nameof(ops));
        Prompts = prompts ?? throw new ArgumentNullException(nameof(prompts));
        Models = models ?? throw new ArgumentNullException(nameof(models));
        Features = features ?? throw new ArgumentNullException(nameof(features));
        SchedulerConfigPath = schedulerConfigPath ?? throw new ArgumentNullException(nameof(schedulerConfigPath));
        _owned = owned;
    }

    /// <summary>
    /// The most memory a request may hold on the device, weights included, in bytes, unless its options say otherwise
    /// (null: the device's free memory).
    /// </summary>
    public long? MemoryBudget { get; set; }

    /// <summary>The bytes of every model's weights (what a budget counts beside the activations, stage by stage).</summary>
    public long WeightBytes => Weights.Total;

    /// <summary>
    /// Every model's weights, by model (for an engine assembled from loaded models, not releasable: every request holds them all).
    /// </summary>
    public ComponentWeights Weights { get; init; } = ComponentWeights.None;

    /// <summary>The weight files the engine's models were loaded from (full paths; empty for an engine assembled from memory).</summary>
    public IReadOnlyList<string> WeightFiles { get; init; } = [];

    /// <summary>Receives one-line notes (the planned memory of each request, graphs).</summary>
    public Action<string>? Log { get; set; }

    /// <summary>
    /// Replay each request's UNet step as a graph from its second call (on the GPU a CUDA graph: the same video with
    /// fewer launches; on the CPU the step simply runs again). On by default since an H200 run (2026-11-26) gave the same
    /// video bit for bit and a step 5 ms (512x512) to 16 ms (704x1280) faster than direct launches (docs/performance.md).
    /// </summary>
    public bool UseGraphs { get; set; } = true;

    /// <summary>The backend the UNet and the image encoder run on.</summary>
    public IOps Ops { get; }

    /// <summary>Every backend the engine runs on: <see cref="Ops"/>, and the VAE's when it has its own (an fp32 VAE).</summary>
    public IReadOnlyList<IOps> Backends => ReferenceEquals(Models.VaeOps, Ops) ? [Ops] : [Ops, Models.VaeOps];

    /// <summary>Image size / latent size of the VAE.</summary>
    public int VaeScaleFactor => Models.VaeConfig.ScaleFactor;

    internal IPromptEncoder Prompts { get; }

    /// <summary>The models, each loaded when a stage needs it and freed when a request's plan says so.</summary>
    internal EngineModels Models { get; }

    /// <summary>The image encoder and the VAE encoder, which a request may release after use.</summary>
    public LoadableModel<ImageEncoderModels> Encoders => Models.Encoders;

    /// <summary>The UNet, which a request may release after its loop.</summary>
    public LoadableModel<I2VGenXLUNet> UNet => Models.UNet;

    /// <summary>The VAE decoder, which a request may hold only while it decodes.</summary>
    public LoadableModel<AutoencoderKL> Decoder => Models.Decoder;

    internal FeatureExtractorConfig Features { get; }

    /// <summary>The <c>scheduler_config.json</c> every request's sampler is built from.</summary>
    public string SchedulerConfigPath { get; }

    /// <summary>
    /// Generates a video from <paramref name="image"/> and the prompt of <paramref name="options"/>. Progress is
    /// reported per stage, per step and, on the CPU, inside a step; cancellation is checked at every op on the CPU
    /// (a cancelled run ends within a fraction of a second) and between steps and frames on the GPU.
    /// </summary>
    public GenerationResult Generate(
        RgbImage image, GenerationOptions options, IProgress<GenerationProgress>? progress = null,
        IGenerationObserver? observer = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options.Height % VaeScaleFactor != 0 || options.Width % VaeScaleFactor != 0)
        {
            throw new ArgumentException($"Height and width must be multiples of the VAE's scale factor {VaeScaleFactor}.", nameof(options));
        }

        if (options.CacheDepth is { } depth && depth >= Models.UNetConfig.BlockOutChannels.Count)
        {
            throw new ArgumentException($"cache-depth must be 0 to {Models.UNetConfig.BlockOutChannels.Count - 1} for this UNet (the up block whose input is cached), got {depth}.", nameof(options));
        }

        if (Interlocked.Exchange(ref _busy, 1) == 1)
        {
            throw new InvalidOperationException("This engine is already generating; it runs one request at a time. Wait for it, or use a second engine.");
        }

        try
        {
            // Everything a request allocates outside its arenas is freed when it ends, on every backend it uses.
            using var request = Ops.Memory.BeginScope();
            using var vaeRequest = ReferenceEquals(Models.VaeOps, Ops) ? null : Models.VaeOps.Memory.BeginScope();
            return new GenerationRequest(this, image, options, progress, observer, cancellation).Run();
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>
    /// The sampler a request with <paramref name="name"/> (ddim, dpmpp-2m, unipc, euler; null for the folder's class) runs,
    /// set to <paramref name="steps"/> steps: what <see cref="Generate"/> builds first, for checking a request before it runs.
    /// </summary>
    /// <exception cref="ModelFileException">The config cannot be read as that sampler, or asks for a setting CudaI2V does not run.</exception>
    /// <exception cref="ArgumentException">The name is not a sampler, or the schedule of that many steps cannot run (the message says why).</exception>
    public Sampler CreateSampler(string? name, int steps)
    {
        var sampler = Samplers.Create(name, SchedulerConfigPath);
        sampler.SetTimesteps(steps);
        return sampler;
    }

    /// <summary>
    /// The memory and work a request of <paramref name="options"/> plans (shapes only, nothing runs): the choices that
    /// fit its budget (<see cref="GenerationOptions.MemoryBudget"/>, else this engine's, else the backend's available
    /// memory), its UNet step (<see cref="UNetStepPlan.Flops"/> per UNet call), its VAE decode and the sampler's history,
    /// for <paramref name="textTokens"/> prompt tokens (CLIP's 77), and a refine's low pass (<see cref="MemoryPlan.LowPass"/>).
    /// The request itself runs this plan.
    /// </summary>
    /// <exception cref="Runtime.Memory.ArenaOutOfMemoryException">Nothing fits; the message says what would.</exception>
    public MemoryPlan PlanRequest(GenerationOptions options, int textTokens = 77)
    {
        ArgumentNullException.ThrowIfNull(options);
        var models = Models.ForPlanning(Ops.ActivationDType);
        var memory = Ops.Memory;
        var budget = options.MemoryBudget ?? MemoryBudget;
        var samplerSlots = CreateSampler(options.Sampler, options.Steps).StateSlots;

        // The device's free memory as if no releasable model were loaded: a plan that frees a loaded model gets its room.
        var weights = Models.Releasable ? Weights : Weights with { Releasable = false };
        var available = memory.AvailableBytes + Models.LoadedReleasableBytes(Weights);
        return MemoryPlanner.PlanRequest(models, options, samplerSlots, textTokens, weights, budget, Math.Min(available, long.MaxValue / 2), memory.Description);
    }

    /// <summary>
    /// <see cref="Generate"/> on a thread-pool thread, for callers that must not block (a UI, a server). Progress is
    /// reported on that thread, in order (see <see cref="GenerationProgress"/>); cancelling stops the run within an op on
    /// the CPU and between steps on the GPU, and the task ends as cancelled.
    /// </summary>
    public Task<GenerationResult> GenerateAsync(
        RgbImage image, GenerationOptions options, IProgress<GenerationProgress>? progress = null, CancellationToken cancellation = default) =>
        Task.Run(() => Generate(image, options, progress, observer: null, cancellation), cancellation);

    /// <inheritdoc/>
    public void Dispose()
    {
        Models.Dispose();
        _owned?.Dispose();
    }
}
