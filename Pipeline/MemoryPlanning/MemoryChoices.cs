using System.Globalization;
using CudaI2V.Layers.Modules;
using CudaI2V.Runtime.Memory;

namespace CudaI2V.Pipeline.MemoryPlanning;

/// <summary>
/// The ways a request may hold less memory at once by doing its work in more, smaller pieces. Every choice but the
/// decode's tiles gives the same video (bit for bit on the CPU): the pieces are independent rows of the same
/// computation. A tiled decode is close to, not equal to, the untiled one (<see cref="DecodeTile"/>).
/// </summary>
/// <param name="SplitGuidance">Run the two classifier-free-guidance videos (negative, positive) one after the other instead of as one batch of two.</param>
/// <param name="FeedForwardHiddenBytes">The most bytes a feed-forward's widened hidden layer takes at once (tokens run in chunks; <see cref="long.MaxValue"/>: no chunking).</param>
/// <param name="DecodeChunk">Frames the VAE decodes at a time.</param>
/// <param name="SpatialImages">Frame-images the UNet's per-frame spatial layers (resnets, spatial transformers) take at a time (<see cref="int.MaxValue"/>: all of a run's).</param>
/// <param name="DecodeTile">
/// The side, in latent pixels, of the square tiles the VAE decodes each frame in, overlapping and blended as diffusers'
/// tiled decode does (null: whole frames). Not exact: the decoder's group norms and attention see a tile, not the frame.
/// </param>
/// <param name="Residency">Which models stay loaded between the stages (the others are freed after use and uploaded again when next needed).</param>
public sealed record MemoryChoices(
    bool SplitGuidance, long FeedForwardHiddenBytes, int DecodeChunk, int SpatialImages = int.MaxValue, int? DecodeTile = null, WeightResidency Residency = WeightResidency.KeepAll)
{
    /// <summary>The choices requests made before memory planning: one batch, feed-forward chunks of 256 MiB, the given decode chunk.</summary>
    public static MemoryChoices Default(int decodeChunk = 1) => new(false, FeedForward.MaxHiddenBytes, decodeChunk);

    /// <summary>
    /// The choices in words, e.g. "guidance halves one after the other, feed-forward in chunks of 64.0 MiB, decode 2 frames
    /// at a time"; without the decode's when <paramref name="decode"/> is false (a refine's low pass decodes nothing).
    /// </summary>
    public string Describe(bool decode = true)
    {
        var parts = new List<string>
        {
            SplitGuidance ? "guidance halves one after the other" : "guidance as one batch",
            FeedForwardHiddenBytes == long.MaxValue ? "feed-forward unchunked" : $"feed-forward in chunks of {ArenaPlan.FormatBytes(FeedForwardHiddenBytes)}",
            SpatialImages == int.MaxValue ? "spatial layers on every frame at once" : string.Create(CultureInfo.InvariantCulture, $"spatial layers {SpatialImages} frame{(SpatialImages == 1 ? "" : "s")} at a time"),
        };
        if (decode)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"VAE decode {DecodeChunk} frame{(DecodeChunk == 1 ? "" : "s")} at a time")
                + (DecodeTile is { } tile ? string.Create(CultureInfo.InvariantCulture, $" in {tile}x{tile}-latent tiles") : ""));
        }

        parts.Add(Residency.Describe());

        return string.Join(", ", parts);
    }
}
