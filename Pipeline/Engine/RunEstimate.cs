using System.Globalization;
using CudaI2V.Kernels;

namespace CudaI2V.Pipeline.Engine;

/// <summary>
/// How long a request's planned work should take on backends that assume a rate (<see cref="IOps.AssumedFlopsPerSecond"/>):
/// the counted FLOPs of its steps and its decode divided by that rate. A rough figure, for warning before a run of
/// hours, not a promise.
/// </summary>
/// <param name="Time">The estimated time.</param>
/// <param name="Flops">The counted FLOPs.</param>
/// <param name="FlopsPerSecond">The rate assumed for the main backend.</param>
public sealed record RunEstimate(TimeSpan Time, double Flops, double FlopsPerSecond)
{
    /// <summary>Runs estimated at this or longer get a warning before they start.</summary>
    public static readonly TimeSpan WarnAbove = TimeSpan.FromMinutes(3);

    /// <summary>
    /// The estimate for <paramref name="mainFlops"/> on <paramref name="main"/> and <paramref name="vaeFlops"/> on
    /// <paramref name="vae"/>; null when either backend assumes no rate (the GPU).
    /// </summary>
    public static RunEstimate? Of(IOps main, double mainFlops, IOps vae, double vaeFlops)
    {
        ArgumentNullException.ThrowIfNull(main);
        ArgumentNullException.ThrowIfNull(vae);
        if (main.AssumedFlopsPerSecond is not { } rate || vae.AssumedFlopsPerSecond is not { } vaeRate)
        {
            return null;
        }

        var seconds = (mainFlops / rate) + (vaeFlops / vaeRate);
        return new RunEstimate(TimeSpan.FromSeconds(Math.Min(seconds, TimeSpan.MaxValue.TotalSeconds / 2)), mainFlops + vaeFlops, rate);
    }

    /// <summary>"1.2 TFLOP at an assumed 40 GFLOP/s".</summary>
    public string Describe() =>
        string.Create(CultureInfo.InvariantCulture, $"{Flops / 1e12:0.##} TFLOP counted, at an assumed {FlopsPerSecond / 1e9:0.#} GFLOP/s");

    /// <summary>A duration as h:mm:ss (hours do not wrap).</summary>
    public static string Format(TimeSpan time) =>
        string.Create(CultureInfo.InvariantCulture, $"{(long)time.TotalHours}:{time.Minutes:00}:{time.Seconds:00}");
}
