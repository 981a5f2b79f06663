using CudaI2V.Pipeline.Imaging;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Engine;

/// <summary>
/// Receives images of a generation while it runs (<see cref="GenerationOptions.Preview"/>): every
/// <see cref="PreviewEvery"/> denoising steps a cheap preview of the current latents (<see cref="LatentPreview"/>),
/// and the video's frames as the VAE decodes them, chunk after chunk (the same frames the result holds). Called on the
/// generating thread, in order, between steps; a slow receiver slows the run down.
/// </summary>
public interface IGenerationPreview
{
    /// <summary>Denoising steps between two latent previews (after step N, 2N, ...); 0 for none.</summary>
    int PreviewEvery { get; }

    /// <summary>
    /// The latent preview after <paramref name="stepsDone"/> of <paramref name="totalSteps"/> denoising steps: one image per
    /// frame, at the latents' size (the video's size divided by the VAE's scale factor).
    /// </summary>
    void Denoised(int stepsDone, int totalSteps, IReadOnlyList<RgbImage> frames);

    /// <summary>Frames <paramref name="first"/> to <paramref name="first"/> + count - 1 of the video, just decoded.</summary>
    void FramesDecoded(int first, IReadOnlyList<RgbImage> frames);
}

/// <summary>
/// A cheap look at latents without the VAE: a fixed linear map from the 4 latent channels of Stable Diffusion's VAE
/// (which I2VGen-XL uses) to RGB, per latent pixel. The map was fitted (by the ComfyUI project, whose
/// <c>latent_rgb_factors</c> for SD 1.x/2.x these are) by least squares between scaled latents and the images they
/// decode to, so it gives the colours and rough shapes of the decoded image at 1/8 of its size; it is a preview, not a
/// decode. Each pixel is clamp((r + 1) / 2, 0, 1) * 255, rounded, of r = sum over channels c of latent[c] * factor[c].
/// Latents with another channel count preview their first three channels as RGB the same way.
/// </summary>
public static class LatentPreview
{
    /// <summary>Rows: latent channels 0-3; columns: R, G, B. Applied to the scaled latents (the UNet's space).</summary>
    public static IReadOnlyList<float[]> Factors { get; } =
    [
        [0.3512f, 0.2297f, 0.3227f],
        [0.3250f, 0.4974f, 0.2350f],
        [-0.2829f, 0.1762f, 0.2721f],
        [-0.2120f, -0.2616f, -0.7177f],
    ];

    /// <summary>
    /// Channels-last host latents (F, h, w, L) in F32, times <paramref name="scale"/> (the sampler's input scale, so a
    /// sampler whose latents carry a large sigma is previewed at unit variance), as one (w x h) image per frame.
    /// </summary>
    public static IReadOnlyList<RgbImage> ToImages(Tensor latents, float scale = 1f)
    {
        ArgumentNullException.ThrowIfNull(latents);
        if (latents.Shape.Rank != 4 || latents.DType != DType.F32)
        {
            throw new ArgumentException($"Latents to preview must be F32 (F, h, w, L); got {latents.DType} {latents.Shape}.", nameof(latents));
        }

        int frames = latents.Shape[0], h = latents.Shape[1], w = latents.Shape[2], channels = latents.Shape[3];
        var values = latents.AsSpan<float>();
        var result = new RgbImage[frames];
        for (var f = 0; f < frames; f++)
        {
            var pixels = new byte[h * w * 3];
            for (var p = 0; p < h * w; p++)
            {
                var latent = values.Slice(((f * h * w) + p) * channels, channels);
                for (var k = 0; k < 3; k++)
                {
                    float sum = 0;
                    if (channels == Factors.Count)
                    {
                        for (var c = 0; c < channels; c++)
                        {
                            sum += latent[c] * scale * Factors[c][k];
                        }
                    }
                    else
                    {
                        sum = k < channels ? latent[k] * scale : 0f;
                    }

                    pixels[(p * 3) + k] = (byte)MathF.Round(Math.Clamp((sum + 1f) * 0.5f, 0f, 1f) * 255f);
                }
            }

            result[f] = new RgbImage(w, h, pixels);
        }

        return result;
    }

    /// <summary>
    /// The frames as one image, a grid of ceil(sqrt(F)) columns in frame order (row by row), black where the last row is
    /// short: a contact sheet that shows the whole video's motion at once.
    /// </summary>
    public static RgbImage Grid(IReadOnlyList<RgbImage> frames)
    {
        ArgumentNullException.ThrowIfNull(frames);
        if (frames.Count == 0)
        {
            throw new ArgumentException("There are no frames to lay out.", nameof(frames));
        }

        int w = frames[0].Width, h = frames[0].Height;
        var columns = (int)Math.Ceiling(Math.Sqrt(frames.Count));
        var rows = (frames.Count + columns - 1) / columns;
        var pixels = new byte[columns * w * rows * h * 3];
        for (var f = 0; f < frames.Count; f++)
        {
            int x0 = f % columns * w, y0 = f / columns * h;
            for (var y = 0; y < h; y++)
            {
                frames[f].Pixels.AsSpan(y * w * 3, w * 3).CopyTo(pixels.AsSpan((((y0 + y) * columns * w) + x0) * 3));
            }
        }

        return new RgbImage(columns * w, rows * h, pixels);
    }
}
