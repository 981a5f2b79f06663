using System.Globalization;
using CudaI2V.Kernels;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Scheduling;

/// <summary>
/// What DPM-Solver++, UniPC and Euler share: diffusers' training tables, a schedule of timesteps and sigmas per
/// <see cref="SetTimesteps"/>, and per step a <see cref="SamplerStep"/> of coefficients that the backend's two sampler
/// ops execute on the F32 latents (<see cref="MultistepRun"/>).
/// </summary>
public abstract class MultistepSampler : Sampler
{
    private float[] _timesteps = [];
    private float[] _sigmas = [];
    private SamplerStep[] _steps = [];

    private protected MultistepSampler(SamplerConfig config, SamplerKind kind)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Kind != kind)
        {
            throw new ArgumentException($"The config was read as a {config.Kind.ClassName()}; this sampler is a {kind.ClassName()}.", nameof(config));
        }

        Config = config;
        Tables = new SigmaTables(config);
    }

    /// <summary>The config the sampler was built from.</summary>
    public SamplerConfig Config { get; }

    /// <inheritdoc/>
    public override int NumTrainTimesteps => Config.NumTrainTimesteps;

    /// <summary>The T cumulative products of 1 - beta (float32), the last set to 2^-24 by the zero-SNR rescale.</summary>
    public IReadOnlyList<float> AlphasCumprod => Tables.AlphasCumprod;

    /// <summary>The T training sigmas ((1 - a) / a) ** 0.5 in float32, increasing with the timestep.</summary>
    public IReadOnlyList<float> TrainingSigmas => Tables.Sigmas;

    /// <inheritdoc/>
    public override IReadOnlyList<float> Timesteps => _timesteps;

    /// <summary>The schedule's float32 sigmas, one per step and the final one (empty before <see cref="SetTimesteps"/>).</summary>
    public IReadOnlyList<float> Sigmas => _sigmas;

    /// <summary>The coefficients of every step (empty before <see cref="SetTimesteps"/>).</summary>
    public IReadOnlyList<SamplerStep> Steps => _steps;

    /// <summary>How many predictions a run keeps (history slots of the latents' size, F32).</summary>
    public abstract int HistoryDepth { get; }

    /// <summary>True when a run keeps the last sample too (UniPC's corrector).</summary>
    public virtual bool UsesLastSample => false;

    /// <inheritdoc/>
    public override int StateSlots => HistoryDepth + (UsesLastSample ? 1 : 0);

    internal SigmaTables Tables { get; }

    /// <summary>
    /// diffusers' _sigma_to_alpha_sigma_t and lambda in double: alpha = 1 / sqrt(sigma^2 + 1), sigma_t = sigma * alpha,
    /// lambda = log(alpha) - log(sigma_t) (+infinity at sigma 0).
    /// </summary>
    public static (double Alpha, double Sigma, double Lambda) VpScalars(double sigma)
    {
        var alpha = 1 / Math.Sqrt((sigma * sigma) + 1);
        var sigmaT = sigma * alpha;
        return (alpha, sigmaT, Math.Log(alpha) - Math.Log(sigmaT));
    }

    /// <inheritdoc/>
    public override void SetTimesteps(int steps)
    {
        var trainSteps = NumTrainTimesteps;
        if (steps < 1 || steps > trainSteps)
        {
            throw new ArgumentOutOfRangeException(
                nameof(steps), steps, $"The number of inference steps must be between 1 and num_train_timesteps ({trainSteps}).");
        }

        var (timesteps, sigmas) = Schedule(steps);
        var outside = timesteps.Where(t => !(t >= 0 && t <= trainSteps - 1)).ToArray();
        if (outside.Length > 0)
        {
            throw Refused(steps, $"gives timestep {Format(outside[0])}, outside the training timesteps [0, {trainSteps - 1}] (lower steps_offset)");
        }

        if (timesteps.Skip(1).Contains(timesteps[0]))
        {
            throw Refused(steps, $"gives the first timestep {Format(timesteps[0])} twice; diffusers then starts at its second occurrence and runs past the schedule's end (choose fewer steps)");
        }

        var built = BuildSteps(timesteps, sigmas, 0);
        if (built.FirstOrDefault(s => !IsFinite(s)) is { } bad)
        {
            throw Refused(steps, $"gives step {bad.Index} (timestep {Format(bad.Timestep)}) non-finite coefficients: the schedule repeats a noise level (choose fewer steps)");
        }

        _timesteps = timesteps;
        _sigmas = sigmas;
        _steps = built;
    }

    /// <inheritdoc/>
    public override void BeginAt(int begin)
    {
        RequireStep(begin);
        var built = BuildSteps(_timesteps, _sigmas, begin);
        _steps = [.. built[begin..].Select((s, k) => s with { Index = k })];
        _timesteps = _timesteps[begin..];
        _sigmas = _sigmas[begin..];
    }

    /// <inheritdoc/>
    public override (float Sample, float Noise) NoiseWeights()
    {
        RequireStep(0);
        if (!NoiseIsVariancePreserving)
        {
            return (1f, _sigmas[0]);
        }

        var (alpha, sigma, _) = VpScalars(_sigmas[0]);
        return ((float)alpha, (float)sigma);
    }

    /// <inheritdoc/>
    public override SamplerRun Start(IOps ops, TensorShape latentShape, float eta = 0f)
    {
        if (NumInferenceSteps == 0)
        {
            throw new InvalidOperationException($"Call SetTimesteps before starting a {ClassName} run.");
        }

        if (eta != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(eta), eta, $"eta applies to DDIM only; the {ClassName} is deterministic (eta must be 0).");
        }

        return new MultistepRun(this, ops, latentShape);
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Name, string Value)> Settings() => Config.Summary();

    /// <summary>The timesteps (float32, as the UNet receives them) and the n + 1 float32 sigmas of <paramref name="steps"/> steps.</summary>
    private protected abstract (float[] Timesteps, float[] Sigmas) Schedule(int steps);

    /// <summary>
    /// The coefficients of every step of the schedule, for a run that starts at step <paramref name="begin"/> (0, or the
    /// tail of <see cref="BeginAt"/>: only the steps from it are used).
    /// </summary>
    private protected abstract SamplerStep[] BuildSteps(float[] timesteps, float[] sigmas, int begin);

    /// <summary>True when add_noise is alpha_t x0 + sigma_t noise (DPM-Solver++, UniPC); false for x0 + sigma noise (Euler).</summary>
    private protected virtual bool NoiseIsVariancePreserving => true;

    /// <summary>x0 = a x + b m for the config's prediction type at a step whose VP scalars are alpha and sigma_t.</summary>
    private protected SamplerPrediction DataPrediction(double alpha, double sigmaT) => Config.PredictionType switch
    {
        PredictionType.Epsilon => new SamplerPrediction((float)(1 / alpha), (float)(-sigmaT / alpha)),
        PredictionType.VPrediction => new SamplerPrediction((float)alpha, (float)-sigmaT),
        PredictionType.Sample => new SamplerPrediction(0f, 1f),
        _ => throw new InvalidOperationException($"Unknown prediction type {Config.PredictionType}."),
    };

    /// <summary>The final sigma the config asks for.</summary>
    private protected float FinalSigma(float sigmaMin) => Config.FinalSigmas == FinalSigmas.Zero ? 0f : sigmaMin;

    private static bool IsFinite(SamplerStep step) =>
        float.IsFinite(step.Prediction.SampleWeight) && float.IsFinite(step.Prediction.OutputWeight)
        && step.Combination.Update.IsFinite && step.Combination.Correction is not { IsFinite: false } && float.IsFinite(step.Combination.InputScale);

    private ArgumentOutOfRangeException Refused(int steps, string why)
    {
        var spacing = Config.UseKarrasSigmas ? "Karras sigmas" : SchedulerConfig.TimestepSpacingNames.First(p => p.Value == Config.TimestepSpacing).Key + " spacing";
        return new ArgumentOutOfRangeException(nameof(steps), steps, $"{ClassName} with {spacing} and {steps} steps {why}.");
    }

    private static string Format(float value) => value.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>
/// A multistep run on a backend: a ring of F32 history slots (the newest prediction first) and, for UniPC, the last
/// sample. Each step is one <see cref="IOps.SamplerPredict"/> into the next slot and one
/// <see cref="IOps.SamplerCombine"/> over the newest slots.
/// </summary>
internal sealed class MultistepRun : SamplerRun
{
    private readonly MultistepSampler _sampler;
    private readonly Tensor[] _slots;
    private readonly Tensor? _last;

    public MultistepRun(MultistepSampler sampler, IOps ops, TensorShape latentShape)
        : base(sampler, ops, latentShape)
    {
        _sampler = sampler;
        _slots = Enumerable.Range(0, sampler.HistoryDepth).Select(_ => ops.Empty(DType.F32, latentShape)).ToArray();
        _last = sampler.UsesLastSample ? ops.Empty(DType.F32, latentShape) : null;
    }

    private protected override void Execute(int index, Tensor modelOutput, Tensor latents, float? guidance, Tensor? nextInput, Tensor? noise)
    {
        var step = _sampler.Steps[index];
        var depth = _slots.Length;
        Ops.SamplerPredict(modelOutput, latents, _slots[index % depth], step.Prediction with { Guidance = guidance });
        var history = new Tensor[Math.Min(index + 1, depth)];
        for (var k = 0; k < history.Length; k++)
        {
            history[k] = _slots[(index - k) % depth];
        }

        Ops.SamplerCombine(latents, history, step.Combination, _last, nextInput);
    }
}
