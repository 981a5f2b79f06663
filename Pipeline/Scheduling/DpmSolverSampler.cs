using CudaI2V.Kernels;
using CudaI2V.Loader.Configs;

namespace CudaI2V.Pipeline.Scheduling;

/// <summary>
/// diffusers' DPMSolverMultistepScheduler (0.29.2) with algorithm_type "dpmsolver++" (arXiv 2211.01095): the model
/// output is converted to x0 (epsilon, v or sample prediction) and the update is the first-order step or the
/// second-order multistep "midpoint" step in lambda = log(alpha / sigma):
/// <code>
/// order 1: x' = (sigma'/sigma) x - alpha' (e^-h - 1) m0
/// order 2: x' = (sigma'/sigma) x - alpha' (e^-h - 1) (m0 + (m0 - m1) / (2 r)),   h = lambda' - lambda, r = (lambda - lambda_prev) / h
/// </code>
/// with the first step, and the last (lower_order_final below 15 steps, euler_at_final, or final sigma 0) taken at
/// order 1. Karras sigmas, lambda_min_clipped, both final sigma types and every timestep spacing are honoured.
/// </summary>
public sealed class DpmSolverSampler : MultistepSampler
{
    /// <summary>Builds the tables of <paramref name="config"/> (read as a DPMSolverMultistepScheduler).</summary>
    public DpmSolverSampler(SamplerConfig config)
        : base(config, SamplerKind.DpmSolverMultistep)
    {
    }

    /// <inheritdoc/>
    public override SamplerKind Kind => SamplerKind.DpmSolverMultistep;

    /// <inheritdoc/>
    public override float InitNoiseSigma => 1f;

    /// <inheritdoc/>
    public override int HistoryDepth => Config.SolverOrder;

    /// <summary>
    /// The timestep after the last usable one: T minus the number of training timesteps whose float32 lambda lies
    /// below lambda_min_clipped (torch.searchsorted over the flipped lambdas).
    /// </summary>
    public int LastTimestep
    {
        get
        {
            var limit = (float)Config.LambdaMinClipped;
            return NumTrainTimesteps - Tables.Lambdas.Count(l => l < limit);
        }
    }

    /// <inheritdoc/>
    private protected override (float[] Timesteps, float[] Sigmas) Schedule(int steps)
    {
        double[] sigmas;
        int[] timesteps;
        if (Config.UseKarrasSigmas)
        {
            sigmas = SamplerTimesteps.Karras(Tables.Sigmas[0], Tables.Sigmas[^1], steps);
            timesteps = sigmas.Select(s => (int)Math.Round(Tables.SigmaToT(s))).ToArray();
        }
        else
        {
            timesteps = SamplerTimesteps.Multistep(Config.TimestepSpacing, NumTrainTimesteps, LastTimestep, steps, Config.StepsOffset);
            sigmas = timesteps.Select(t => NumpyCompat.Interp(t, Tables.Sigmas)).ToArray();
        }

        var all = sigmas.Select(s => (float)s).Append(FinalSigma(Tables.SigmaMin)).ToArray();
        return (timesteps.Select(t => (float)t).ToArray(), all);
    }

    /// <inheritdoc/>
    private protected override SamplerStep[] BuildSteps(float[] timesteps, float[] sigmas, int begin)
    {
        var n = timesteps.Length;
        var steps = new SamplerStep[n];
        for (var i = begin; i < n; i++)
        {
            var lowerOrderFinal = i == n - 1
                && (Config.EulerAtFinal || (Config.LowerOrderFinal && n < 15) || Config.FinalSigmas == FinalSigmas.Zero);
            var order = Config.SolverOrder == 1 || i < begin + 1 || lowerOrderFinal ? 1 : 2;

            var (alpha, sigma, lambda) = VpScalars(sigmas[i]);
            var (alphaNext, sigmaNext, lambdaNext) = VpScalars(sigmas[i + 1]);
            var h = lambdaNext - lambda;
            var c = alphaNext * (Math.Exp(-h) - 1);
            SamplerWeights update;
            if (order == 1)
            {
                update = new SamplerWeights((float)(sigmaNext / sigma), (float)-c);
            }
            else
            {
                var lambdaPrevious = VpScalars(sigmas[i - 1]).Lambda;
                var r = (lambda - lambdaPrevious) / h;
                update = new SamplerWeights((float)(sigmaNext / sigma), (float)(-c - (0.5 * c / r)), (float)(0.5 * c / r));
            }

            steps[i] = new SamplerStep(i, timesteps[i], sigmas[i], order, DataPrediction(alpha, sigma), new SamplerCombination(update));
        }

        return steps;
    }
}
