using CudaI2V.Layers.Vae;
using CudaI2V.Loader;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Engine;

/// <summary>
/// The decode stage of a request as its plan says: chunks of frames on one planned arena, each frame whole or (with
/// <see cref="RequestPlan.DecodeTile"/>) in overlapping tiles blended as diffusers' tiled decode does (<see cref="VaeTiles"/>).
/// Tiles of each size share one arena, taken in turn (largest first, the size the plan counted).
/// </summary>
internal static class VideoDecoding
{
    /// <summary>
    /// Decodes host latents (F, h, w, latent), already unscaled, to host images (F, H, W, out) in F32, calling
    /// <paramref name="report"/> with the frames done (for tiles: the share of tiles done, in frames) and
    /// <paramref name="framesDecoded"/> with each chunk of whole frames as it is ready (its first frame and the chunk; tiled
    /// frames are whole only once every tile is blended, so they arrive together at the end).
    /// </summary>
    public static Tensor Decode(
        AutoencoderKL vae, IReadOnlyList<WeightManifestEntry> vaeShapes, RequestPlan plan, Tensor latents, Action<int> report,
        Action<int, Tensor>? framesDecoded, CancellationToken cancellation)
    {
        int frames = latents.Shape[0], h = latents.Shape[1], w = latents.Shape[2], chunk = plan.DecodeChunk;
        if (plan.DecodeTile is not { } tile)
        {
            return Frames(vae, PlannedVaeDecode.Create(vae.Ops, vae.Config, plan.Decode, chunk, h, w), latents, chunk, report, framesDecoded, cancellation);
        }

        var tiles = new VaeTiles(h, w, tile, vae.ScaleFactor);
        var decoded = new Tensor[tiles.Tiles.Count];
        var done = 0;
        foreach (var (th, tw) in tiles.Sizes)
        {
            var planned = (th, tw) == tiles.Sizes[0] ? plan.Decode : PlannedVaeDecode.PlanDecode(vae.Ops.ActivationDType, vae.Config, vaeShapes, chunk, th, tw);
            using var decoder = PlannedVaeDecode.Create(vae.Ops, vae.Config, planned, chunk, th, tw);
            for (var i = 0; i < decoded.Length; i++)
            {
                var t = tiles.Tiles[i];
                if (t.Height == th && t.Width == tw)
                {
                    decoded[i] = Frames(vae, decoder, VaeTiles.Cut(latents, t), chunk, _ => { }, null, cancellation, dispose: false);
                    report((int)((long)++done * frames / decoded.Length));
                }
            }
        }

        var video = tiles.Blend(decoded);
        framesDecoded?.Invoke(0, video);
        return video;
    }

    private static Tensor Frames(
        AutoencoderKL vae, PlannedVaeDecode decoder, Tensor latents, int chunk, Action<int> report, Action<int, Tensor>? framesDecoded, CancellationToken cancellation,
        bool dispose = true)
    {
        try
        {
            var frames = latents.Shape[0];
            var decoded = new List<Tensor>();
            for (var start = 0; start < frames; start += chunk)
            {
                cancellation.ThrowIfCancellationRequested();
                var count = Math.Min(chunk, frames - start);
                var part = decoder.Decode(vae, latents.Slice(0, start, count));
                decoded.Add(part);
                report(start + count);
                framesDecoded?.Invoke(start, part);
            }

            return decoded.Count == 1 ? decoded[0] : HostTensorMath.ConcatFirstAxis(decoded);
        }
        finally
        {
            if (dispose)
            {
                decoder.Dispose();
            }
        }
    }
}
