using System.Globalization;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Runtime.Memory;

namespace CudaI2V.Pipeline.MemoryPlanning;

/// <summary>
/// What a request will hold on its device, stage by stage, chosen before any work (<see cref="MemoryPlanner"/>): the
/// choices, the arenas they need, the weights each stage holds, and what the choices cost in launches against the
/// unconstrained plan (the same FLOPs either way: the choices only cut the work into more pieces) and in weights
/// uploaded again per request.
/// </summary>
/// <param name="Choices">The choices made.</param>
/// <param name="Request">The planned encode, UNet step and VAE decode under those choices.</param>
/// <param name="Weights">The models' weights; each stage counts those the residency holds then.</param>
/// <param name="Overhead">The device's own memory a budget counts (<see cref="MemoryPlanner.DeviceOverhead"/>; 0 without a budget).</param>
/// <param name="Limit">The bytes the largest stage could take beside the overhead: the budget less the overhead, or the device's free memory (<see cref="long.MaxValue"/>: no limit).</param>
/// <param name="Budget">The budget, weights included (null: the device's free memory).</param>
/// <param name="Frames">Frames of the video.</param>
/// <param name="Steps">Denoising steps.</param>
/// <param name="UnconstrainedLaunches">Launches of the plan with no constraint (one batch, no chunking, every frame decoded at once).</param>
public sealed record MemoryPlan(
    MemoryChoices Choices, RequestPlan Request, ComponentWeights Weights, long Overhead, long Limit, long? Budget, int Frames, int Steps, long UnconstrainedLaunches)
{
    /// <summary>The stages in the order a request runs them.</summary>
    public static IReadOnlyList<RequestStage> Stages { get; } = [RequestStage.Encode, RequestStage.Denoise, RequestStage.Decode];

    /// <summary>The image encode's activations: the larger of its two arenas, its input and the reserve (a refine encodes at both sizes, one after the other).</summary>
    public long EncodeBytes => Bytes(RequestStage.Encode);

    /// <summary>The denoising loop's activations: the step's arena (and the cached step's with the deep-feature cache under step caching), the reserve beside it, the conditioning, the loop's buffers and the sampler's history (a refine's low pass's when larger).</summary>
    public long DenoiseBytes => Bytes(RequestStage.Denoise);

    /// <summary>The decode's activations: its arena and the reserve beside it (the loop's memory is freed first).</summary>
    public long DecodeBytes => Bytes(RequestStage.Decode);

    /// <summary>The largest stage's activations.</summary>
    public long ActivationBytes => Stages.Max(Bytes);

    /// <summary>
    /// A low-resolution refine's low pass (<see cref="GenerationOptions.RefineFrom"/>), or null: the plan of the request at
    /// the smaller size, made under this plan's budget and weight residency. Its encode and denoising loop run (the
    /// request's two encodes one after the other, then its loop before this plan's tail); its decode does not (the video
    /// is decoded at the requested size, on this plan). <see cref="Launches"/> counts the requested size's plan alone.
    /// </summary>
    public MemoryPlan? LowPass { get; init; }

    /// <summary>The activations <paramref name="stage"/> holds at most: the requested size's, or a refine's low pass's when larger.</summary>
    public long Bytes(RequestStage stage) =>
        LowPass is { } low && stage != RequestStage.Decode ? Math.Max(Request.Bytes(stage), low.Request.Bytes(stage)) : Request.Bytes(stage);

    /// <summary>The weights on the device during <paramref name="stage"/>.</summary>
    public long WeightsIn(RequestStage stage) => Weights.Held(Choices.Residency, stage);

    /// <summary>What <paramref name="stage"/> holds at most: the overhead, its weights and its activations.</summary>
    public long PeakOf(RequestStage stage) => Overhead + WeightsIn(stage) + Bytes(stage);

    /// <summary>The stage that holds the most.</summary>
    public RequestStage PeakStage => Stages.MaxBy(PeakOf);

    /// <summary>The planned peak: the largest stage's, weights and overhead included.</summary>
    public long Peak => PeakOf(PeakStage);

    /// <summary>The request's step caching (its cached steps count the cached step's launches), or null.</summary>
    public StepCaching? Caching { get; init; }

    /// <summary>The weights each request uploads again because the residency frees them (0 when every model stays loaded).</summary>
    public long ReloadedBytes => Weights.Reloaded(Choices.Residency);

    /// <summary>Kernel launches of the whole request's UNet steps and decode (each op is about one launch).</summary>
    public long Launches => Launch(Request.Step.OpsOf(Caching, Steps), Request.Decode.Ops, Request.DecodeTiles, Choices.DecodeChunk, Frames);

    /// <summary><see cref="Launches"/> over <see cref="UnconstrainedLaunches"/> (1: no extra cost).</summary>
    public double Cost => (double)Launches / UnconstrainedLaunches;

    /// <summary>
    /// Launches of the denoising loop's <paramref name="loopOps"/> ops and the decode of <paramref name="frames"/> in
    /// chunks of <paramref name="chunk"/>, each in <paramref name="tiles"/> tiles of <paramref name="decodeOps"/> ops.
    /// </summary>
    internal static long Launch(long loopOps, int decodeOps, int tiles, int chunk, int frames) =>
        loopOps + ((long)((frames + chunk - 1) / chunk) * tiles * decodeOps);

    /// <summary>The stage's name in words.</summary>
    public static string Name(RequestStage stage) => stage switch
    {
        RequestStage.Encode => "image encode",
        RequestStage.Denoise => "denoising",
        _ => "decode",
    };

    /// <summary>One line: the peak against the budget, each stage, the choices, and the cost.</summary>
    public string Describe()
    {
        var against = Budget is { } budget ? $"of a {ArenaPlan.FormatBytes(budget)} budget"
            : Limit == long.MaxValue ? "with no budget" : $"({ArenaPlan.FormatBytes(Limit)} free)";
        var stages = string.Join(", ", Stages.Select(s => $"{Name(s)} {ArenaPlan.FormatBytes(Bytes(s))} beside {ArenaPlan.FormatBytes(WeightsIn(s))} of weights"));
        var low = LowPass is { } l ? $"; refine's low pass: {l.Choices.Describe(decode: false)}" : "";
        var reload = ReloadedBytes > 0 ? $"; uploads {ArenaPlan.FormatBytes(ReloadedBytes)} of weights again per request" : "";
        return string.Create(
            CultureInfo.InvariantCulture,
            $"peak {ArenaPlan.FormatBytes(Peak)} in the {Name(PeakStage)} {against}: {stages}; {Choices.Describe()}; "
            + $"{Launches:N0} launches, {Cost:F2}x the unconstrained plan's {UnconstrainedLaunches:N0}{reload}{low}");
    }
}
