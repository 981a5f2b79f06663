using System.Globalization;

namespace CudaI2V.Loader.Configs;

/// <summary>How betas are laid over the training timesteps.</summary>
public enum BetaSchedule
{
    /// <summary>"linear": linspace(beta_start, beta_end).</summary>
    Linear,

    /// <summary>"scaled_linear": linspace(sqrt(beta_start), sqrt(beta_end)) squared.</summary>
    ScaledLinear,

    /// <summary>"squaredcos_cap_v2": the cosine schedule, betas capped at 0.999.</summary>
    SquaredCosCapV2,
}

/// <summary>What the model predicts.</summary>
public enum PredictionType
{
    /// <summary>"epsilon": the noise.</summary>
    Epsilon,

    /// <summary>"v_prediction": the velocity.</summary>
    VPrediction,

    /// <summary>"sample": the clean sample.</summary>
    Sample,
}

/// <summary>How inference timesteps are chosen.</summary>
public enum TimestepSpacing
{
    /// <summary>"leading".</summary>
    Leading,

    /// <summary>"trailing".</summary>
    Trailing,

    /// <summary>"linspace".</summary>
    Linspace,
}

/// <summary>
/// <c>scheduler/scheduler_config.json</c> read with DDIMScheduler's parameters; every key the file omits takes
/// diffusers' default (note <c>clip_sample</c> defaults to true).
/// </summary>
public sealed class SchedulerConfig : ComponentConfig
{
    private SchedulerConfig(ConfigReader r)
        : base(r, r.OptionalString("_class_name"))
    {
        r.Known("_diffusers_version");
        NumTrainTimesteps = r.Int("num_train_timesteps", 1000, 1, ConfigLimits.MaxTrainTimesteps);
        BetaSchedule = r.Enum("beta_schedule", BetaSchedule.Linear, BetaScheduleNames);
        TrainedBetas = r.Has("trained_betas") ? r.DoubleList("trained_betas", null) : null;
        r.Known("trained_betas");

        // The betas must be probabilities: alphas = 1 - beta are multiplied together and their square roots divided by.
        var scheduled = TrainedBetas is null && BetaSchedule != BetaSchedule.SquaredCosCapV2;
        BetaStart = scheduled ? r.Double("beta_start", 0.0001, 0, 0.999, minExclusive: true) : r.Double("beta_start", 0.0001);
        BetaEnd = scheduled ? r.Double("beta_end", 0.02, 0, 0.999, minExclusive: true) : r.Double("beta_end", 0.02);
        ClipSample = r.Bool("clip_sample", true);
        SetAlphaToOne = r.Bool("set_alpha_to_one", true);
        StepsOffset = r.Int("steps_offset", 0, 0, NumTrainTimesteps - 1);
        PredictionType = r.Enum("prediction_type", PredictionType.Epsilon, PredictionTypeNames);
        Thresholding = r.Bool("thresholding", false);
        DynamicThresholdingRatio = r.Double("dynamic_thresholding_ratio", 0.995);
        ClipSampleRange = r.Double("clip_sample_range", 1.0, 0, 1e6, minExclusive: true);
        SampleMaxValue = r.Double("sample_max_value", 1.0);
        TimestepSpacing = r.Enum("timestep_spacing", TimestepSpacing.Leading, TimestepSpacingNames);
        RescaleBetasZeroSnr = r.Bool("rescale_betas_zero_snr", false);
        if (TrainedBetas is { } betas)
        {
            r.Check(betas.Count == NumTrainTimesteps, "trained_betas", $"a list of num_train_timesteps ({NumTrainTimesteps}) values", betas.Count + " values");
            var bad = betas.FirstOrDefault(b => !(b > 0 && b < 1), 0.5);
            r.Check(bad is > 0 and < 1, "trained_betas", "values in (0, 1)", bad);
        }

        Finish();
    }

    /// <summary>diffusers' names of the beta schedules.</summary>
    public static IReadOnlyDictionary<string, BetaSchedule> BetaScheduleNames { get; } = new Dictionary<string, BetaSchedule>
    {
        ["linear"] = BetaSchedule.Linear,
        ["scaled_linear"] = BetaSchedule.ScaledLinear,
        ["squaredcos_cap_v2"] = BetaSchedule.SquaredCosCapV2,
    };

    /// <summary>diffusers' names of the prediction types.</summary>
    public static IReadOnlyDictionary<string, PredictionType> PredictionTypeNames { get; } = new Dictionary<string, PredictionType>
    {
        ["epsilon"] = PredictionType.Epsilon,
        ["v_prediction"] = PredictionType.VPrediction,
        ["sample"] = PredictionType.Sample,
    };

    /// <summary>diffusers' names of the timestep spacings.</summary>
    public static IReadOnlyDictionary<string, TimestepSpacing> TimestepSpacingNames { get; } = new Dictionary<string, TimestepSpacing>
    {
        ["leading"] = TimestepSpacing.Leading,
        ["trailing"] = TimestepSpacing.Trailing,
        ["linspace"] = TimestepSpacing.Linspace,
    };

    /// <summary>Training timesteps (1000).</summary>
    public int NumTrainTimesteps { get; }

    /// <summary>First beta of the linear schedules.</summary>
    public double BetaStart { get; }

    /// <summary>Last beta of the linear schedules.</summary>
    public double BetaEnd { get; }

    /// <summary>The beta schedule.</summary>
    public BetaSchedule BetaSchedule { get; }

    /// <summary>Explicit betas, which replace the schedule when given.</summary>
    public IReadOnlyList<double>? TrainedBetas { get; }

    /// <summary>Clip the predicted clean sample to ±<see cref="ClipSampleRange"/>.</summary>
    public bool ClipSample { get; }

    /// <summary>The "previous" alpha of the last step is 1 (otherwise alphas_cumprod[0]).</summary>
    public bool SetAlphaToOne { get; }

    /// <summary>Added to every inference timestep (leading spacing).</summary>
    public int StepsOffset { get; }

    /// <summary>What the model predicts.</summary>
    public PredictionType PredictionType { get; }

    /// <summary>Dynamic thresholding (not supported by CudaI2V's scheduler; refused there).</summary>
    public bool Thresholding { get; }

    /// <summary>Dynamic thresholding ratio.</summary>
    public double DynamicThresholdingRatio { get; }

    /// <summary>Range of <see cref="ClipSample"/>.</summary>
    public double ClipSampleRange { get; }

    /// <summary>Dynamic thresholding limit.</summary>
    public double SampleMaxValue { get; }

    /// <summary>Timestep spacing.</summary>
    public TimestepSpacing TimestepSpacing { get; }

    /// <summary>Rescale betas to zero terminal SNR.</summary>
    public bool RescaleBetasZeroSnr { get; }

    /// <summary>Reads and validates <paramref name="path"/>.</summary>
    public static SchedulerConfig Load(string path) => new(ConfigReader.Load(path));

    /// <inheritdoc/>
    public override IEnumerable<(string Name, string Value)> Summary()
    {
        yield return ("beta_schedule", BetaScheduleNames.First(p => p.Value == BetaSchedule).Key);
        yield return ("prediction_type", PredictionTypeNames.First(p => p.Value == PredictionType).Key);
        yield return ("timestep_spacing", TimestepSpacingNames.First(p => p.Value == TimestepSpacing).Key);
        yield return ("steps_offset", StepsOffset.ToString(CultureInfo.InvariantCulture));
        yield return ("rescale_betas_zero_snr", RescaleBetasZeroSnr ? "true" : "false");
        yield return ("clip_sample", ClipSample ? "true" : "false");
        yield return ("set_alpha_to_one", SetAlphaToOne ? "true" : "false");
    }
}
