using System.Text.Json.Serialization;
using CudaI2V.Pipeline.MemoryPlanning;
using CudaI2V.Pipeline.Scheduling;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Engine;

/// <summary>How the VAE's latent distribution of the input image becomes the image latent.</summary>
public enum VaeEncodeMode
{
    /// <summary>The distribution's mean: deterministic (the reference fixtures use it).</summary>
    Mean,

    /// <summary>A sample mean + std * noise, the noise from the request's seeded generator (diffusers' default).</summary>
    Sample,
}

/// <summary>
/// Every setting of one generation. Defaults are the I2VGen-XL release's (704x1280, 16 frames, 50 steps,
/// guidance 9, 16 fps, decoding one frame at a time).
/// </summary>
public sealed record GenerationOptions
{
    /// <summary>What the video should show.</summary>
    public required string Prompt { get; init; }

    /// <summary>What it should not show (the empty prompt when null, as diffusers does).</summary>
    public string? NegativePrompt { get; init; }

    /// <summary>Frames of video (1 or more).</summary>
    public int Frames { get; init; } = 16;

    /// <summary>Denoising steps (1 or more).</summary>
    public int Steps { get; init; } = 50;

    /// <summary>Classifier-free guidance scale (0 or more); guidance is active above 1.</summary>
    public double Guidance { get; init; } = 9.0;

    /// <summary>Frames per second: the model's fps conditioning and the written video's frame rate.</summary>
    public int Fps { get; init; } = 16;

    /// <summary>Video height in pixels, a multiple of 8.</summary>
    public int Height { get; init; } = 704;

    /// <summary>Video width in pixels, a multiple of 8.</summary>
    public int Width { get; init; } = 1280;

    /// <summary>Seed of the noise generator; a random seed when null (reported in the result).</summary>
    public ulong? Seed { get; init; }

    /// <summary>Frames the VAE decodes at a time (memory only; the result does not depend on it); null lets the memory plan choose.</summary>
    public int? DecodeChunk { get; init; }

    /// <summary>
    /// The most memory the request may hold on its device, weights included, in bytes (null: the engine's
    /// <see cref="VideoEngine.MemoryBudget"/>, else the device's free memory). The request is planned to fit it before
    /// any work, trading launches for memory (<see cref="MemoryPlanner"/>), or refused with what would fit.
    /// </summary>
    public long? MemoryBudget { get; init; }

    /// <summary>Fixed memory choices instead of the planner's (they must fit), e.g. to compare runs under each.</summary>
    public MemoryChoices? MemoryChoices { get; init; }

    /// <summary>DDIM eta: 0 is deterministic; above 0 adds noise from the generator at each step.</summary>
    public float Eta { get; init; }

    /// <summary>
    /// The sampler: ddim, dpmpp-2m, unipc or euler, reading the folder's scheduler_config.json as that class's
    /// from_config does; null runs the class the config's <c>_class_name</c> names (docs/samplers.md).
    /// </summary>
    public string? Sampler { get; init; }

    /// <summary>
    /// Step caching's N (<c>--cache-interval</c>): the whole UNet on one step in N, only its shallow branch on the others,
    /// reusing the deep feature of the last full step (DeepCache; docs/step-caching.md). 1 (the default) caches nothing.
    /// </summary>
    public int CacheInterval { get; init; } = 1;

    /// <summary>
    /// The up block whose input step caching reuses (<c>--cache-depth</c>, 0 to the UNet's levels - 1); null for the
    /// last up block (3 on the release), which keeps only the full-resolution level fresh and saves the most.
    /// </summary>
    public int? CacheDepth { get; init; }

    /// <summary>
    /// Low-resolution refine (<c>--refine-from</c>): denoise every step at this smaller size first, upscale the latents,
    /// re-noise them to <see cref="RefineStrength"/> and denoise the schedule's tail at the requested size
    /// (docs/step-caching.md). Null: one pass at the requested size.
    /// </summary>
    public RefineSize? RefineFrom { get; init; }

    /// <summary>
    /// How much of the schedule the refine pass runs again at the requested size (<c>--refine-strength</c>, 0 to 1],
    /// diffusers' img2img strength: the last int(steps * strength) steps.
    /// </summary>
    public double RefineStrength { get; init; } = RefineSize.DefaultStrength;

    /// <summary>How the input image's latent is taken.</summary>
    public VaeEncodeMode VaeEncode { get; init; } = VaeEncodeMode.Mean;

    /// <summary>Initial noise (1, 4, F, h, w) in diffusers' layout, instead of drawing it from the seed.</summary>
    [JsonIgnore]
    public Tensor? InitialNoise { get; init; }

    /// <summary>
    /// Receives a latent preview every few steps and the frames as they are decoded (<see cref="IGenerationPreview"/>);
    /// null for none. Not a setting of the video: it changes nothing in the result.
    /// </summary>
    [JsonIgnore]
    public IGenerationPreview? Preview { get; init; }

    /// <summary>True when classifier-free guidance runs (guidance above 1).</summary>
    [JsonIgnore]
    public bool UsesGuidance => Guidance > 1.0;

    /// <summary>Checks every setting; throws <see cref="ArgumentException"/> naming the option.</summary>
    public void Validate()
    {
        if (string.IsNullOrEmpty(Prompt))
        {
            throw new ArgumentException("The prompt is empty; say what the video should show.", nameof(Prompt));
        }

        Check(Frames >= 1, nameof(Frames), $"frames must be 1 or more, got {Frames}");
        Check(Steps >= 1, nameof(Steps), $"steps must be 1 or more, got {Steps}");
        Check(Guidance >= 0 && double.IsFinite(Guidance), nameof(Guidance), $"guidance must be 0 or more, got {Guidance}");
        Check(Fps >= 1, nameof(Fps), $"fps must be 1 or more, got {Fps}");
        Check(Height >= 8 && Height % 8 == 0, nameof(Height), $"height must be a positive multiple of 8, got {Height}");
        Check(Width >= 8 && Width % 8 == 0, nameof(Width), $"width must be a positive multiple of 8, got {Width}");
        Check(MemoryBudget is null or > 0, nameof(MemoryBudget), $"the memory budget must be positive, got {MemoryBudget}");
        Check(DecodeChunk is null or >= 1, nameof(DecodeChunk), $"decode chunk must be 1 or more, got {DecodeChunk}");
        Check(Eta >= 0 && float.IsFinite(Eta), nameof(Eta), $"eta must be 0 or more, got {Eta}");
        Check(Sampler is null || Samplers.Names.Contains(Sampler), nameof(Sampler), $"sampler must be one of {string.Join(", ", Samplers.Names)}, got '{Sampler}'");
        Check(CacheInterval >= 1, nameof(CacheInterval), $"cache-interval must be 1 or more, got {CacheInterval}");
        Check(CacheDepth is null or >= 0, nameof(CacheDepth), $"cache-depth must be 0 or more (the up block whose input is cached), got {CacheDepth}");
        if (RefineProblem() is { } refine)
        {
            throw new ArgumentException(refine.Message + ".", refine.Option);
        }
    }

    /// <summary>
    /// Why the refine settings (<see cref="RefineFrom"/>, <see cref="RefineStrength"/>) cannot run, or null: the option at
    /// fault and a message that starts with its name on the command line ("refine-from 20x16: each side must be ...").
    /// </summary>
    public (string Option, string Message)? RefineProblem()
    {
        if (!(RefineStrength > 0 && RefineStrength <= 1))
        {
            return (nameof(RefineStrength), $"refine-strength must be above 0 and at most 1, got {RefineStrength}");
        }

        if (RefineFrom is not { } refine)
        {
            return null;
        }

        if (refine.Problem(Width, Height) is { } problem)
        {
            return (nameof(RefineFrom), $"refine-from {refine}: {problem}");
        }

        return RefineSize.TailSteps(Steps, RefineStrength) >= 1 ? null
            : (nameof(RefineStrength), $"refine-strength {RefineStrength} leaves no step of the {Steps}-step schedule to refine (int(steps * strength) is 0); raise it or the steps");
    }

    private static void Check(bool ok, string name, string message)
    {
        if (!ok)
        {
            throw new ArgumentException(message + ".", name);
        }
    }
}
