using CudaI2V.Pipeline.Imaging;
using CudaI2V.Pipeline.MemoryPlanning;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Engine;

/// <summary>The stages of a generation, in order.</summary>
public enum GenerationStage
{
    /// <summary>Prompt and negative prompt through the text encoder.</summary>
    EncodingPrompt,

    /// <summary>The input image through the CLIP image encoder and the VAE encoder.</summary>
    EncodingImage,

    /// <summary>The denoising loop.</summary>
    Denoising,

    /// <summary>The VAE decoder.</summary>
    Decoding,
}

/// <summary>
/// Where a generation is: the stage, the steps of it finished (denoising steps, decoded frames), and the time since it
/// began. Each stage reports 0 of its total when it begins and each step as it finishes; between them, a backend that
/// computes as it is called (the CPU) also reports how far the step in progress is, by the ops of its planned forward
/// started so far (<paramref name="StepOps"/> of <paramref name="StepOpsTotal"/>, at most a few times a second). The
/// engine reports on the thread that generates, in order; a <c>Progress&lt;T&gt;</c> posts each report to the thread
/// pool, which may reorder them, so pass an <see cref="IProgress{T}"/> that handles the report where it is called.
/// </summary>
/// <param name="Stage">The stage.</param>
/// <param name="Step">Steps of the stage finished.</param>
/// <param name="TotalSteps">Steps of the stage.</param>
/// <param name="Elapsed">Time since the generation began.</param>
/// <param name="StepOps">Ops started of the step in progress (0 when not reported: the GPU queues a step at once).</param>
/// <param name="StepOpsTotal">Ops of the step in progress, from its plan (0 when not reported).</param>
public sealed record GenerationProgress(GenerationStage Stage, int Step, int TotalSteps, TimeSpan Elapsed, int StepOps = 0, int StepOpsTotal = 0)
{
    /// <summary>Steps finished plus the fraction of the step in progress.</summary>
    public double Position => Step + (StepOpsTotal > 0 ? Math.Min(1.0, (double)StepOps / StepOpsTotal) : 0);

    /// <summary>
    /// On the report of a denoising step just finished: true when it ran the whole UNet, false when it was a cached step
    /// (step caching ran only the UNet's shallow branch); null on every other report.
    /// </summary>
    public bool? FullStep { get; init; }
}

/// <summary>A finished generation.</summary>
/// <param name="Frames">The video as 8-bit RGB frames.</param>
/// <param name="Video">(F, H, W, 3) in [0, 1], before the 8-bit conversion.</param>
/// <param name="Seed">The seed of the noise generator (the given one or the one drawn).</param>
/// <param name="StageTimes">Time spent in each stage.</param>
public sealed record GenerationResult(IReadOnlyList<RgbImage> Frames, Tensor Video, ulong Seed, IReadOnlyDictionary<GenerationStage, TimeSpan> StageTimes)
{
    /// <summary>The memory plan the request ran under: its choices, planned peak and cost.</summary>
    public MemoryPlan? Memory { get; init; }

    /// <summary>The denoising steps that ran the whole UNet (0 first, over every pass of a refine); the others were cached steps.</summary>
    public IReadOnlyList<int> FullSteps { get; init; } = [];

    /// <summary>Denoising steps run (UNet calls, each evaluating both guidance halves): the schedule's, plus a refine's tail.</summary>
    public int DenoisingSteps { get; init; }

    /// <summary>The steps a low-resolution refine ran again at the requested size (0 without refine); they are the last ones.</summary>
    public int RefineSteps { get; init; }
}

/// <summary>
/// Receives the tensors a generation computes on the way, for checking a run against a reference
/// (<c>cudai2v verify pipeline</c>). All tensors are host tensors in diffusers' layouts.
/// </summary>
public interface IGenerationObserver
{
    /// <summary>A named intermediate: "clip.pixels" (1,3,S,S), "image_embeds" (1,D), "image_embeddings" (B2,1,D), "vae.pixels" (1,3,H,W),
    /// "vae.moments" (1,2L,h,w), "image_latents" (B2,L,F,h,w), "prompt_embeds" (B2,77,D), "latents.initial" (1,L,F,h,w).</summary>
    void Tensor(string name, Tensor value);

    /// <summary>
    /// The UNet's input latents (B2,L,F,h,w), timestep (whole but for Euler's fractional ones) and output (B2,L,F,h,w)
    /// at a denoising step.
    /// </summary>
    void UNetStep(int stepIndex, float timestep, Tensor input, Tensor output);
}
