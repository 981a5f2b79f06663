using CudaI2V.Pipeline.Imaging;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Output;

/// <summary>Conversion of the decoded video to 8-bit frames, as diffusers' postprocessing does it.</summary>
public static class VideoFrames
{
    /// <summary>
    /// The VAE's output x (F, H, W, 3) in about [-1, 1] to values in [0, 1]: clamp(x * 0.5 + 0.5, 0, 1) in float32
    /// (diffusers' denormalize).
    /// </summary>
    public static Tensor Denormalize(Tensor decoded)
    {
        ArgumentNullException.ThrowIfNull(decoded);
        var result = decoded.To(DType.F32);
        var values = result.AsSpan<float>();
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = Math.Clamp((values[i] * 0.5f) + 0.5f, 0f, 1f);
        }

        return result;
    }

    /// <summary>
    /// A video (F, H, W, 3) with values in [0, 1] to F RGB frames: round(x * 255) with x * 255 in float32 and ties
    /// to even, as numpy's <c>(x * 255).round().astype("uint8")</c>.
    /// </summary>
    public static IReadOnlyList<RgbImage> ToImages(Tensor video)
    {
        ArgumentNullException.ThrowIfNull(video);
        if (video.Shape.Rank != 4 || video.Shape[3] != 3)
        {
            throw new ArgumentException($"A video must be (F, H, W, 3); got {video.Shape}.", nameof(video));
        }

        int frames = video.Shape[0], height = video.Shape[1], width = video.Shape[2];
        var values = video.ToFloat32Array();
        var size = height * width * 3;
        var result = new RgbImage[frames];
        for (var f = 0; f < frames; f++)
        {
            var pixels = new byte[size];
            for (var i = 0; i < size; i++)
            {
                var scaled = values[(f * size) + i] * 255f;
                pixels[i] = (byte)Math.Clamp(MathF.Round(scaled, MidpointRounding.ToEven), 0f, 255f);
            }

            result[f] = new RgbImage(width, height, pixels);
        }

        return result;
    }
}
