using CudaI2V.Pipeline.Noise;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Engine;

/// <summary>
/// The latent tensors of I2VGen-XL's pipeline on the host, channels-last with frames folded into the batch,
/// (B * F, h, w, L), and their conversion to diffusers' (B, L, F, h, w) for observers.
/// </summary>
public static class Latents
{
    /// <summary>
    /// Frame 0 is the image latent; frame k of F-1 more is the constant float32(k / (F - 1)) everywhere (diffusers'
    /// frame-position mask), the same for each of <paramref name="batch"/> copies: (batch * F, h, w, L).
    /// </summary>
    public static Tensor FramePositions(Tensor latent, int frames, int batch)
    {
        ArgumentNullException.ThrowIfNull(latent);
        var one = latent.AsSpan<float>();
        var result = Tensor.Zeros(DType.F32, new TensorShape(batch * frames, latent.Shape[1], latent.Shape[2], latent.Shape[3]));
        var values = result.AsSpan<float>();
        for (var b = 0; b < batch; b++)
        {
            for (var f = 0; f < frames; f++)
            {
                var target = values.Slice(((b * frames) + f) * one.Length, one.Length);
                if (f == 0)
                {
                    one.CopyTo(target);
                }
                else
                {
                    target.Fill((float)((double)f / (frames - 1)));
                }
            }
        }

        return result;
    }

    /// <summary>
    /// The initial noise, (F, h, w, L): <paramref name="given"/> when set (diffusers' (1, L, F, h, w)), else drawn from
    /// <paramref name="generator"/> in that order, as diffusers draws it.
    /// </summary>
    public static Tensor Initial(Tensor? given, SeededRandom generator, int frames, int h, int w, int channels)
    {
        ArgumentNullException.ThrowIfNull(generator);
        var shape = new TensorShape(1, channels, frames, h, w);
        var noise = given ?? generator.StandardNormal(shape);
        if (noise.Shape != shape)
        {
            throw new ArgumentException($"Initial noise must be {shape} (1, latent channels, frames, h, w); got {noise.Shape}.", nameof(given));
        }

        return noise.Permute(0, 2, 3, 4, 1).Contiguous().To(DType.F32).Reshape(frames, h, w, channels);
    }

    /// <summary>
    /// The standard-normal values an eta &gt; 0 DDIM step adds, drawn as diffusers draws them (torch.randn of the model
    /// output's shape (1, L, F, h, w), in that element order), then laid out channels-last like the latents.
    /// </summary>
    public static Tensor VarianceNoise(SeededRandom generator, int frames, int h, int w, int channels)
    {
        ArgumentNullException.ThrowIfNull(generator);
        return generator.StandardNormal(new TensorShape(1, channels, frames, h, w)).Permute(0, 2, 3, 4, 1).Contiguous().Reshape(frames, h, w, channels);
    }

    /// <summary>Channels-last videos (B * F, h, w, C) as diffusers' (B, C, F, h, w).</summary>
    public static Tensor ToNcfhw(Tensor channelsLast, int frames)
    {
        ArgumentNullException.ThrowIfNull(channelsLast);
        int n = channelsLast.Shape[0], h = channelsLast.Shape[1], w = channelsLast.Shape[2], c = channelsLast.Shape[3];
        return channelsLast.Reshape(n / frames, frames, h, w, c).Permute(0, 4, 1, 2, 3).Contiguous();
    }
}
