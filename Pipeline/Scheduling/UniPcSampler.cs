using CudaI2V.Kernels;
using CudaI2V.Loader.Configs;

namespace CudaI2V.Pipeline.Scheduling;

/// <summary>
/// diffusers' UniPCMultistepScheduler (0.29.2) in its data-prediction form (predict_x0) with B(h) = e^h - 1 ("bh2"),
/// orders 1 and 2: each step first corrects the sample the UNet just saw with UniC (from the last sample, the previous
/// predictions and the new one), then predicts the next sample with UniP from the corrected one. With hh = -h,
/// phi = e^hh - 1 and B = e^hh - 1:
/// <code>
/// UniP:  x' = (sigma'/sigma) x_c - alpha' phi m0 - alpha' B (m1 - m0) / (2 r)                   (order 2; order 1 drops the last term)
/// UniC:  x_c = (sigma/sigma_prev) last - alpha phi m1 - alpha B (rho0 (m2 - m1) / r + rho1 (m0 - m1))   (order 1: rho1 = 1/2, no rho0)
/// </code>
/// where m0 is this step's x0, m1 and m2 the earlier ones, and rho solves diffusers' 2x2 system. Karras sigmas,
/// both final sigma types, disable_corrector and every timestep spacing are honoured.
/// </summary>
public sealed class UniPcSampler : MultistepSampler
{
    /// <summary>Builds the tables of <paramref name="config"/> (read as a UniPCMultistepScheduler).</summary>
    public UniPcSampler(SamplerConfig config)
        : base(config, SamplerKind.UniPcMultistep)
    {
    }

    /// <inheritdoc/>
    public override SamplerKind Kind => SamplerKind.UniPcMultistep;

    /// <inheritdoc/>
    public override float InitNoiseSigma => 1f;

    /// <summary>The corrector reads this step's prediction and the previous one, and at order 2 the one before.</summary>
    public override int HistoryDepth => Config.SolverOrder + 1;

    /// <inheritdoc/>
    public override bool UsesLastSample => true;

    /// <inheritdoc/>
    private protected override (float[] Timesteps, float[] Sigmas) Schedule(int steps)
    {
        if (Config.UseKarrasSigmas)
        {
            var karras = SamplerTimesteps.Karras(Tables.Sigmas[0], Tables.Sigmas[^1], steps);
            var timesteps = karras.Select(s => (float)Math.Round(Tables.SigmaToT(s))).ToArray();
            var last = Config.FinalSigmas == FinalSigmas.Zero ? 0f : (float)karras[^1];
            return (timesteps, karras.Select(s => (float)s).Append(last).ToArray());
        }

        var spaced = SamplerTimesteps.Multistep(Config.TimestepSpacing, NumTrainTimesteps, NumTrainTimesteps, steps, Config.StepsOffset);
        var sigmas = spaced.Select(t => (float)NumpyCompat.Interp(t, Tables.Sigmas)).Append(FinalSigma(Tables.SigmaMin));
        return (spaced.Select(t => (float)t).ToArray(), sigmas.ToArray());
    }

    /// <inheritdoc/>
    private protected override SamplerStep[] BuildSteps(float[] timesteps, float[] sigmas, int begin)
    {
        var n = timesteps.Length;
        var solverOrder = Config.SolverOrder;
        var steps = new SamplerStep[n];
        var previousOrder = 0;
        for (var i = begin; i < n; i++)
        {
            var correction = i > begin && !Config.DisableCorrector.Contains(i - 1) ? Corrector(sigmas, i, previousOrder) : (SamplerWeights?)null;
            var order = Config.LowerOrderFinal ? Math.Min(solverOrder, n - i) : solverOrder;
            order = Math.Min(order, Math.Min(i - begin, solverOrder) + 1);
            var (alpha, sigma, _) = VpScalars(sigmas[i]);
            steps[i] = new SamplerStep(i, timesteps[i], sigmas[i], order, DataPrediction(alpha, sigma), new SamplerCombination(Predictor(sigmas, i, order), correction));
            previousOrder = order;
        }

        return steps;
    }

    /// <summary>UniP from step i's sigma to step i + 1's; the base sample is the corrected one.</summary>
    private static SamplerWeights Predictor(float[] sigmas, int i, int order)
    {
        var (_, sigma, lambda) = VpScalars(sigmas[i]);
        var (alphaNext, sigmaNext, lambdaNext) = VpScalars(sigmas[i + 1]);
        var h = lambdaNext - lambda;
        var (phi, b, _, _) = Phi(h);
        var current = -alphaNext * phi;
        if (order == 1)
        {
            return new SamplerWeights((float)(sigmaNext / sigma), (float)current);
        }

        var r = (VpScalars(sigmas[i - 1]).Lambda - lambda) / h;
        var previous = alphaNext * b * 0.5 / r;
        return new SamplerWeights((float)(sigmaNext / sigma), (float)(current + previous), (float)-previous);
    }

    /// <summary>UniC at step i: the last sample (taken at step i - 1's sigma) corrected with this step's prediction.</summary>
    private static SamplerWeights Corrector(float[] sigmas, int i, int order)
    {
        var (alpha, sigma, lambda) = VpScalars(sigmas[i]);
        var (_, sigmaPrevious, lambdaPrevious) = VpScalars(sigmas[i - 1]);
        var h = lambda - lambdaPrevious;
        var (phi, b, b1, b2) = Phi(h);
        var last = sigma / sigmaPrevious;
        if (order == 1)
        {
            return new SamplerWeights((float)last, (float)(-alpha * b * 0.5), (float)((-alpha * phi) + (alpha * b * 0.5)));
        }

        var r = (VpScalars(sigmas[i - 2]).Lambda - lambdaPrevious) / h;
        var rho0 = (b1 - b2) / (1 - r);
        var rho1 = b1 - rho0;
        return new SamplerWeights(
            (float)last,
            (float)(-alpha * b * rho1),
            (float)((-alpha * phi) + (alpha * b * ((rho0 / r) + rho1))),
            (float)(-alpha * b * rho0 / r));
    }

    /// <summary>
    /// With hh = -h: h_phi_1 = e^hh - 1, B(h) = e^hh - 1 ("bh2"), and diffusers' b_1, b_2 of the order-2 system
    /// (h_phi_k = h_phi_1 / hh - 1, b_1 = h_phi_k / B; h_phi_k = h_phi_k / hh - 1/2, b_2 = 2 h_phi_k / B).
    /// </summary>
    private static (double Phi, double B, double B1, double B2) Phi(double h)
    {
        var hh = -h;
        var phi = Expm1(hh);
        var b = phi;
        var phiK = (phi / hh) - 1;
        var b1 = phiK / b;
        phiK = (phiK / hh) - 0.5;
        var b2 = phiK * 2 / b;
        return (phi, b, b1, b2);
    }

    /// <summary>e^x - 1 without cancellation near 0 (Kahan's method; .NET has no expm1).</summary>
    private static double Expm1(double x)
    {
        if (double.IsNegativeInfinity(x))
        {
            return -1;
        }

        var u = Math.Exp(x);
        if (u == 1.0)
        {
            return x;
        }

        var um1 = u - 1.0;
        return um1 == -1.0 || double.IsInfinity(u) ? um1 : um1 * x / Math.Log(u);
    }
}
