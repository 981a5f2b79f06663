using System.Globalization;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Runtime.Memory;

namespace CudaI2V.Pipeline.MemoryPlanning;

/// <summary>
/// What a request will hold on its device, chosen before any work (<see cref="MemoryPlanner"/>): the choices, the
/// arenas they need, and what they cost in launches against the unconstrained plan (the same FLOPs either way: the
/// choices only cut the work into more pieces).
/// </summary>
/// <param name="Choices">The choices made.</param>
/// <param name="Request">The planned UNet step and VAE decode under those choices.</param>
/// <param name="ResidentBytes">
/// What stays on the device through the denoising loop and the decode: the weights (without the encoders' when they are
/// released after use), the sampler's history and, when a budget counts them, the device's own overhead (<see cref="MemoryPlanner.DeviceOverhead"/>).
/// </param>
/// <param name="Limit">The bytes the request's activations could take: the budget less <paramref name="ResidentBytes"/>, or the device's free memory.</param>
/// <param name="Budget">The budget, weights included (null: the device's free memory).</param>
/// <param name="Frames">Frames of the video.</param>
/// <param name="Steps">Denoising steps.</param>
/// <param name="UnconstrainedLaunches">Launches of the plan with no constraint (one batch, no chunking, every frame decoded at once).</param>
public sealed record MemoryPlan(MemoryChoices Choices, RequestPlan Request, long ResidentBytes, long Limit, long? Budget, int Frames, int Steps, long UnconstrainedLaunches)
{
    /// <summary>The image encoder's and the VAE encoder's weights: in <see cref="ResidentBytes"/> unless the plan releases them after use.</summary>
    public long EncoderBytes { get; init; }

    /// <summary>The denoising loop's activations: the step's arena (and the cached step's with the deep-feature cache under step caching), the libraries' reserve beside it, and the conditioning held through the loop.</summary>
    public long DenoiseBytes => Request.Step.LoopBytes;

    /// <summary>The decode's activations: its arena and the reserve beside it (the step's arena is freed first).</summary>
    public long DecodeBytes => Request.Decode.Arena.Peak + RequestMemory.Reserve;

    /// <summary>The larger of the two stages' activations.</summary>
    public long ActivationBytes => Math.Max(DenoiseBytes, DecodeBytes);

    /// <summary>The planned peak: what stays resident and the larger stage.</summary>
    public long Peak => ResidentBytes + ActivationBytes;

    /// <summary>Kernel launches of the whole request's UNet steps and decode (each op is about one launch).</summary>
    public long Launches => Launch(Request.Step.Forward.Ops, Request.Step.Runs, Request.Decode.Ops, Request.DecodeTiles, Choices.DecodeChunk, Frames, Steps);

    /// <summary><see cref="Launches"/> over <see cref="UnconstrainedLaunches"/> (1: no extra cost).</summary>
    public double Cost => (double)Launches / UnconstrainedLaunches;

    /// <summary>
    /// Launches of <paramref name="steps"/> steps of <paramref name="runs"/> runs of <paramref name="stepOps"/> ops and the
    /// decode of <paramref name="frames"/> in chunks, each in <paramref name="tiles"/> tiles.
    /// </summary>
    internal static long Launch(int stepOps, int runs, int decodeOps, int tiles, int chunk, int frames, int steps) =>
        ((long)steps * runs * stepOps) + ((long)((frames + chunk - 1) / chunk) * tiles * decodeOps);

    /// <summary>One line: the peak against the budget, the choices, and the cost.</summary>
    public string Describe()
    {
        var against = Budget is { } budget ? $"of a {ArenaPlan.FormatBytes(budget)} budget"
            : Limit == long.MaxValue ? "with no budget" : $"({ArenaPlan.FormatBytes(Limit)} free for activations)";
        return string.Create(
            CultureInfo.InvariantCulture,
            $"peak {ArenaPlan.FormatBytes(Peak)} {against}: resident {ArenaPlan.FormatBytes(ResidentBytes)}, denoising {ArenaPlan.FormatBytes(DenoiseBytes)}, "
            + $"decode {ArenaPlan.FormatBytes(DecodeBytes)}; {Choices.Describe()}; {Launches:N0} launches, {Cost:F2}x the unconstrained plan's {UnconstrainedLaunches:N0}");
    }
}
