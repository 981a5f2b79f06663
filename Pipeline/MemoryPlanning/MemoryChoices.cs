using System.Globalization;
using CudaI2V.Layers.Modules;
using CudaI2V.Runtime.Memory;

namespace CudaI2V.Pipeline.MemoryPlanning;

/// <summary>
/// The ways a request may hold less memory at once by doing its work in more, smaller pieces. Every choice gives the
/// same video (bit for bit on the CPU): the pieces are independent rows of the same computation.
/// </summary>
/// <param name="SplitGuidance">Run the two classifier-free-guidance videos (negative, positive) one after the other instead of as one batch of two.</param>
/// <param name="FeedForwardHiddenBytes">The most bytes a feed-forward's widened hidden layer takes at once (tokens run in chunks; <see cref="long.MaxValue"/>: no chunking).</param>
/// <param name="DecodeChunk">Frames the VAE decodes at a time.</param>
public sealed record MemoryChoices(bool SplitGuidance, long FeedForwardHiddenBytes, int DecodeChunk)
{
    /// <summary>The choices requests made before memory planning: one batch, feed-forward chunks of 256 MiB, the given decode chunk.</summary>
    public static MemoryChoices Default(int decodeChunk = 1) => new(false, FeedForward.MaxHiddenBytes, decodeChunk);

    /// <summary>The choices in words, e.g. "guidance halves one after the other, feed-forward in chunks of 64.0 MiB, decode 2 frames at a time".</summary>
    public string Describe() => string.Create(
        CultureInfo.InvariantCulture,
        $"{(SplitGuidance ? "guidance halves one after the other" : "guidance as one batch")}, "
        + $"{(FeedForwardHiddenBytes == long.MaxValue ? "feed-forward unchunked" : $"feed-forward in chunks of {ArenaPlan.FormatBytes(FeedForwardHiddenBytes)}")}, "
        + $"VAE decode {DecodeChunk} frame{(DecodeChunk == 1 ? "" : "s")} at a time");
}
