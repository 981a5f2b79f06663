using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.Vae;

/// <summary>
/// diffusers' <c>DiagonalGaussianDistribution</c> over the VAE encoder's moments, on the host: the mean is the
/// first half of the channels, the log-variance the second half clamped to [-30, 20]; std = exp(logvar / 2);
/// a sample is mean + std * noise. The image-to-video pipeline uses the mean by default (deterministic).
/// </summary>
public sealed class LatentDistribution
{
    private LatentDistribution(Tensor mean, Tensor logVar)
    {
        Mean = mean;
        LogVar = logVar;
    }

    /// <summary>(N, h, w, latent).</summary>
    public Tensor Mean { get; }

    /// <summary>(N, h, w, latent), clamped to [-30, 20].</summary>
    public Tensor LogVar { get; }

    /// <summary>Splits host moments (N, h, w, 2 * latent) of any float dtype.</summary>
    public static LatentDistribution FromMoments(Tensor moments)
    {
        ArgumentNullException.ThrowIfNull(moments);
        if (moments.Shape.Rank != 4 || moments.Shape[3] % 2 != 0)
        {
            throw new ArgumentException($"VAE moments must be (N, h, w, 2 * latent); got {moments.Shape}.", nameof(moments));
        }

        var latent = moments.Shape[3] / 2;
        var mean = moments.Slice(3, 0, latent).To(DType.F32);
        var logVar = moments.Slice(3, latent, latent).To(DType.F32);
        var lv = logVar.AsSpan<float>();
        for (var i = 0; i < lv.Length; i++)
        {
            lv[i] = Math.Clamp(lv[i], -30f, 20f);
        }

        return new LatentDistribution(mean, logVar);
    }

    /// <summary>mean + exp(logvar / 2) * noise, with <paramref name="noise"/> of the mean's shape.</summary>
    public Tensor Sample(ReadOnlySpan<float> noise)
    {
        var mean = Mean.AsSpan<float>();
        if (noise.Length != mean.Length)
        {
            throw new ArgumentException($"Noise has {noise.Length} values; the latent {Mean.Shape} needs {mean.Length}.", nameof(noise));
        }

        var result = Tensor.Zeros(DType.F32, Mean.Shape);
        var r = result.AsSpan<float>();
        var lv = LogVar.AsSpan<float>();
        for (var i = 0; i < r.Length; i++)
        {
            r[i] = mean[i] + (MathF.Exp(0.5f * lv[i]) * noise[i]);
        }

        return result;
    }
}
