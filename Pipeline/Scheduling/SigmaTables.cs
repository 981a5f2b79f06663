using CudaI2V.Loader.Configs;

namespace CudaI2V.Pipeline.Scheduling;

/// <summary>
/// The training tables the multistep schedulers build in their constructors, in PyTorch's float32: betas (as DDIM
/// builds them), alphas_cumprod (torch.cumprod; with the zero-SNR rescale the last one is then set to 2^-24 so the
/// first sigma is finite), the sigmas ((1 - a) / a) ** 0.5, their logs (np.log of the float32 array), and DPM-Solver's
/// lambda = log(sqrt(a)) - log(sqrt(1 - a)).
/// </summary>
internal sealed class SigmaTables
{
    /// <summary>2^-24, the last alphas_cumprod after the zero-SNR rescale (float16's smallest subnormal).</summary>
    public const float ZeroSnrAlphaCumprod = 1f / 16777216f;

    public SigmaTables(SamplerConfig config)
    {
        var betas = BetaSchedules.Betas(config.NumTrainTimesteps, config.BetaStart, config.BetaEnd, config.BetaSchedule, config.TrainedBetas, config.RescaleBetasZeroSnr);
        AlphasCumprod = BetaSchedules.CumulativeProduct(BetaSchedules.OneMinus(betas));
        if (config.RescaleBetasZeroSnr)
        {
            AlphasCumprod[^1] = ZeroSnrAlphaCumprod;
        }

        var n = AlphasCumprod.Length;
        Sigmas = new float[n];
        LogSigmas = new float[n];
        Lambdas = new float[n];
        for (var i = 0; i < n; i++)
        {
            var a = AlphasCumprod[i];
            Sigmas[i] = MathF.Sqrt((1f - a) / a);
            LogSigmas[i] = MathF.Log(Sigmas[i]);
            Lambdas[i] = MathF.Log(MathF.Sqrt(a)) - MathF.Log(MathF.Sqrt(1f - a));
        }
    }

    /// <summary>alphas_cumprod, one per training timestep.</summary>
    public float[] AlphasCumprod { get; }

    /// <summary>The training sigmas, increasing with the timestep.</summary>
    public float[] Sigmas { get; }

    /// <summary>log of <see cref="Sigmas"/> in float32.</summary>
    public float[] LogSigmas { get; }

    /// <summary>lambda_t = log(alpha_t) - log(sigma_t) per training timestep, decreasing with the timestep.</summary>
    public float[] Lambdas { get; }

    /// <summary>The smallest training sigma, ((1 - a_0) / a_0) ** 0.5 (final_sigmas_type "sigma_min").</summary>
    public float SigmaMin => Sigmas[0];

    /// <summary>
    /// diffusers' _sigma_to_t: the fractional timestep whose log sigma interpolates <paramref name="sigma"/>'s log
    /// between its two neighbours in the table. numpy 1.x evaluates the distances and the weight in float32 (a float64
    /// scalar meets a float32 array) and the final mix in float64, and so does this.
    /// </summary>
    public double SigmaToT(double sigma)
    {
        var logSigma = (float)Math.Log(Math.Max(sigma, 1e-10));
        var low = 0;
        for (var i = 0; i < LogSigmas.Length; i++)
        {
            if (logSigma - LogSigmas[i] >= 0)
            {
                low = i;
            }
        }

        low = Math.Min(low, LogSigmas.Length - 2);
        var high = low + 1;
        var w = (LogSigmas[low] - logSigma) / (LogSigmas[low] - LogSigmas[high]);
        w = Math.Clamp(w, 0f, 1f);
        return ((double)(1f - w) * low) + ((double)w * high);
    }
}
