using CudaI2V.Kernels;
using CudaI2V.Loader.Configs;

namespace CudaI2V.Pipeline.Scheduling;

/// <summary>
/// diffusers' EulerDiscreteScheduler (0.29.2) without churn (the pipeline's defaults): the latents live at noise level
/// sigma (not variance-preserving), the UNet sees them scaled by 1 / sqrt(sigma^2 + 1), and each step is an Euler step
/// of the probability-flow ODE in sigma, which as a linear combination of the latents and x0 is
/// <code>
/// x' = x + (x - x0) / sigma * (sigma' - sigma) = (sigma'/sigma) x + (1 - sigma'/sigma) x0
/// </code>
/// with x0 = x - sigma m (epsilon), x / (sigma^2 + 1) - sigma / sqrt(sigma^2 + 1) m (v) or m (sample). Sigmas are the
/// training sigmas interpolated at the (possibly fractional) spaced timesteps, or Karras sigmas between the spaced
/// range or the config's sigma_min / sigma_max.
/// </summary>
public sealed class EulerSampler : MultistepSampler
{
    /// <summary>Builds the tables of <paramref name="config"/> (read as an EulerDiscreteScheduler).</summary>
    public EulerSampler(SamplerConfig config)
        : base(config, SamplerKind.EulerDiscrete)
    {
    }

    /// <inheritdoc/>
    public override SamplerKind Kind => SamplerKind.EulerDiscrete;

    /// <inheritdoc/>
    public override int HistoryDepth => 1;

    /// <summary>
    /// diffusers' init_noise_sigma: the largest sigma of the schedule (before <see cref="MultistepSampler.SetTimesteps"/>,
    /// of the training sigmas), and for "leading" spacing sqrt(max^2 + 1), in float32. Pipelines read it after
    /// set_timesteps.
    /// </summary>
    public override float InitNoiseSigma
    {
        get
        {
            var max = (Sigmas.Count > 0 ? Sigmas : TrainingSigmas).Max();
            return Config.TimestepSpacing is TimestepSpacing.Linspace or TimestepSpacing.Trailing ? max : MathF.Sqrt((max * max) + 1f);
        }
    }

    /// <summary>scale_model_input's factor at step <paramref name="index"/>: 1 / sqrt(sigma^2 + 1), the root taken in float32 as diffusers does.</summary>
    public override float InputScale(int index)
    {
        RequireStep(index);
        return Scale(Sigmas[index]);
    }

    /// <inheritdoc/>
    private protected override (float[] Timesteps, float[] Sigmas) Schedule(int steps)
    {
        var timesteps = SamplerTimesteps.Euler(Config.TimestepSpacing, NumTrainTimesteps, steps, Config.StepsOffset);
        var sigmas = timesteps.Select(t => NumpyCompat.Interp(t, Tables.Sigmas)).ToArray();
        if (Config.UseKarrasSigmas)
        {
            sigmas = SamplerTimesteps.Karras(Config.SigmaMin ?? sigmas[^1], Config.SigmaMax ?? sigmas[0], steps);
            timesteps = sigmas.Select(s => (float)Tables.SigmaToT(s)).ToArray();
        }

        return (timesteps, sigmas.Select(s => (float)s).Append(FinalSigma(Tables.SigmaMin)).ToArray());
    }

    /// <inheritdoc/>
    private protected override bool NoiseIsVariancePreserving => false;

    /// <inheritdoc/>
    private protected override SamplerStep[] BuildSteps(float[] timesteps, float[] sigmas, int begin)
    {
        var n = timesteps.Length;
        var steps = new SamplerStep[n];
        for (var i = 0; i < n; i++)
        {
            double sigma = sigmas[i];
            var prediction = Config.PredictionType switch
            {
                PredictionType.Epsilon => new SamplerPrediction(1f, (float)-sigma),
                PredictionType.VPrediction => new SamplerPrediction((float)(1 / ((sigma * sigma) + 1)), (float)(-sigma / Math.Sqrt((sigma * sigma) + 1))),
                PredictionType.Sample => new SamplerPrediction(0f, 1f),
                _ => throw new InvalidOperationException($"Unknown prediction type {Config.PredictionType}."),
            };
            var ratio = sigmas[i + 1] / sigma;
            var update = new SamplerWeights((float)ratio, (float)(1 - ratio));
            var inputScale = i + 1 < n ? Scale(sigmas[i + 1]) : 1f;
            steps[i] = new SamplerStep(i, timesteps[i], sigmas[i], 1, prediction, new SamplerCombination(update, null, inputScale));
        }

        return steps;
    }

    private static float Scale(float sigma) => (float)(1.0 / MathF.Sqrt((sigma * sigma) + 1f));
}
