using System.Globalization;

namespace CudaI2V.Loader.Configs;

/// <summary>What the last sigma of a multistep schedule is (diffusers' final_sigmas_type).</summary>
public enum FinalSigmas
{
    /// <summary>"zero": the run ends on the clean sample.</summary>
    Zero,

    /// <summary>"sigma_min": the run ends at the smallest training sigma (UniPC with Karras sigmas: the last Karras sigma).</summary>
    SigmaMin,
}

/// <summary>
/// <c>scheduler/scheduler_config.json</c> read as one of diffusers' multistep schedulers reads it
/// (<c>DPMSolverMultistepScheduler</c>, <c>UniPCMultistepScheduler</c>, <c>EulerDiscreteScheduler</c>): the keys that
/// class knows, each defaulting to that class's default (note timestep_spacing defaults to "linspace" there, not
/// DDIM's "leading"); every other key (a DDIM config's clip_sample, set_alpha_to_one, ...) is ignored, as diffusers'
/// <c>from_config</c> ignores it. Settings CudaI2V does not run are refused by name, never approximated.
/// </summary>
public sealed class SamplerConfig : ComponentConfig
{
    private SamplerConfig(ConfigReader r, SamplerKind kind)
        : base(r, r.OptionalString("_class_name"))
    {
        if (kind == SamplerKind.Ddim)
        {
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "DDIM reads its config as a SchedulerConfig.");
        }

        Kind = kind;
        r.Known("_diffusers_version");
        var path = r.Path;
        NumTrainTimesteps = r.Int("num_train_timesteps", 1000);
        Check(NumTrainTimesteps is >= 2 and <= ConfigLimits.MaxTrainTimesteps, path, "num_train_timesteps", $"an integer from 2 to {ConfigLimits.MaxTrainTimesteps}", NumTrainTimesteps);
        BetaStart = r.Double("beta_start", 0.0001);
        BetaEnd = r.Double("beta_end", 0.02);
        BetaSchedule = r.Enum("beta_schedule", BetaSchedule.Linear, SchedulerConfig.BetaScheduleNames);
        TrainedBetas = r.Has("trained_betas") ? r.DoubleList("trained_betas", null) : null;
        r.Known("trained_betas");
        if (TrainedBetas is { } betas)
        {
            Check(betas.Count == NumTrainTimesteps, path, "trained_betas", $"a list of num_train_timesteps ({NumTrainTimesteps}) values", betas.Count + " values");
            var bad = betas.FirstOrDefault(b => !(b > 0 && b < 1), 0.5);
            Check(bad is > 0 and < 1, path, "trained_betas", "values in (0, 1)", bad);
        }
        else if (BetaSchedule != BetaSchedule.SquaredCosCapV2)
        {
            Check(BetaStart is > 0 and < 1, path, "beta_start", "a number in (0, 1)", BetaStart);
            Check(BetaEnd is > 0 and < 1, path, "beta_end", "a number in (0, 1)", BetaEnd);
        }

        PredictionType = r.Enum("prediction_type", PredictionType.Epsilon, SchedulerConfig.PredictionTypeNames);
        TimestepSpacing = r.Enum("timestep_spacing", TimestepSpacing.Linspace, SchedulerConfig.TimestepSpacingNames);
        StepsOffset = r.Int("steps_offset", 0);
        Check(StepsOffset >= 0 && StepsOffset < NumTrainTimesteps, path, "steps_offset", $"an integer from 0 to num_train_timesteps - 1 ({NumTrainTimesteps - 1})", StepsOffset);
        RescaleBetasZeroSnr = r.Bool("rescale_betas_zero_snr", false);
        UseKarrasSigmas = r.Bool("use_karras_sigmas", false);
        FinalSigmas = r.Enum("final_sigmas_type", FinalSigmas.Zero, FinalSigmasNames);
        if (kind == SamplerKind.EulerDiscrete)
        {
            ReadEuler(r);
        }
        else
        {
            ReadMultistep(r, kind);
        }

        Finish();
    }

    /// <summary>diffusers' names of <see cref="FinalSigmas"/>.</summary>
    public static IReadOnlyDictionary<string, FinalSigmas> FinalSigmasNames { get; } = new Dictionary<string, FinalSigmas>
    {
        ["zero"] = FinalSigmas.Zero,
        ["sigma_min"] = FinalSigmas.SigmaMin,
    };

    /// <summary>The class this config was read for.</summary>
    public SamplerKind Kind { get; }

    /// <summary>Training timesteps T (1000).</summary>
    public int NumTrainTimesteps { get; }

    /// <summary>First beta of the linear schedules.</summary>
    public double BetaStart { get; }

    /// <summary>Last beta of the linear schedules.</summary>
    public double BetaEnd { get; }

    /// <summary>The beta schedule.</summary>
    public BetaSchedule BetaSchedule { get; }

    /// <summary>Explicit betas, which replace the schedule when given.</summary>
    public IReadOnlyList<double>? TrainedBetas { get; }

    /// <summary>What the model predicts.</summary>
    public PredictionType PredictionType { get; }

    /// <summary>How inference timesteps are chosen (default "linspace" for these classes).</summary>
    public TimestepSpacing TimestepSpacing { get; }

    /// <summary>Added to every inference timestep with "leading" spacing.</summary>
    public int StepsOffset { get; }

    /// <summary>Rescale betas to zero terminal SNR (then the last alphas_cumprod is set to 2^-24, as diffusers does).</summary>
    public bool RescaleBetasZeroSnr { get; }

    /// <summary>Karras et al.'s sigmas (rho 7) instead of the training sigmas at the spaced timesteps.</summary>
    public bool UseKarrasSigmas { get; }

    /// <summary>The last sigma of the schedule.</summary>
    public FinalSigmas FinalSigmas { get; }

    /// <summary>1 or 2: how many model predictions a step combines (1 for Euler).</summary>
    public int SolverOrder { get; private set; } = 1;

    /// <summary>Lower the order in the last steps (DPM-Solver++ below 15 steps; UniPC always).</summary>
    public bool LowerOrderFinal { get; private set; }

    /// <summary>DPM-Solver++: a first-order last step whatever the step count.</summary>
    public bool EulerAtFinal { get; private set; }

    /// <summary>DPM-Solver++: timesteps whose lambda falls below this are not used (-infinity: none dropped).</summary>
    public double LambdaMinClipped { get; private set; } = double.NegativeInfinity;

    /// <summary>UniPC: steps whose corrector is skipped (diffusers' disable_corrector).</summary>
    public IReadOnlyList<int> DisableCorrector { get; private set; } = [];

    /// <summary>Euler with Karras sigmas: the smallest sigma, or null for the schedule's.</summary>
    public double? SigmaMin { get; private set; }

    /// <summary>Euler with Karras sigmas: the largest sigma, or null for the schedule's.</summary>
    public double? SigmaMax { get; private set; }

    /// <summary>Reads <paramref name="path"/> as the <paramref name="kind"/> class would (from_config).</summary>
    public static SamplerConfig Load(string path, SamplerKind kind) => new(ConfigReader.Load(path), kind);

    /// <summary>The class's defaults, as if <paramref name="path"/> held an empty object.</summary>
    public static SamplerConfig Defaults(string path, SamplerKind kind) => new(ConfigReader.Empty(path), kind);

    /// <summary>The class a scheduler config names in <c>_class_name</c>, or null when it names none.</summary>
    public static string? DeclaredClass(string path) => ConfigReader.Load(path).OptionalString("_class_name");

    /// <inheritdoc/>
    public override IEnumerable<(string Name, string Value)> Summary()
    {
        yield return ("class", Kind.ClassName());
        yield return ("beta_schedule", SchedulerConfig.BetaScheduleNames.First(p => p.Value == BetaSchedule).Key);
        yield return ("prediction_type", SchedulerConfig.PredictionTypeNames.First(p => p.Value == PredictionType).Key);
        yield return ("timestep_spacing", SchedulerConfig.TimestepSpacingNames.First(p => p.Value == TimestepSpacing).Key);
        yield return ("steps_offset", StepsOffset.ToString(CultureInfo.InvariantCulture));
        yield return ("rescale_betas_zero_snr", RescaleBetasZeroSnr ? "true" : "false");
        yield return ("use_karras_sigmas", UseKarrasSigmas ? "true" : "false");
        yield return ("final_sigmas_type", FinalSigmasNames.First(p => p.Value == FinalSigmas).Key);
        if (Kind != SamplerKind.EulerDiscrete)
        {
            yield return ("solver_order", SolverOrder.ToString(CultureInfo.InvariantCulture));
            yield return ("lower_order_final", LowerOrderFinal ? "true" : "false");
        }
    }

    private void ReadMultistep(ConfigReader r, SamplerKind kind)
    {
        var path = r.Path;
        var dpm = kind == SamplerKind.DpmSolverMultistep;
        var name = kind.ClassName();
        SolverOrder = r.Int("solver_order", 2);
        Check(SolverOrder is 1 or 2, path, "solver_order", $"1 or 2 (CudaI2V's {name} runs orders 1 and 2{(dpm ? "; diffusers' third order is not offered" : "")})", SolverOrder);
        LowerOrderFinal = r.Bool("lower_order_final", true);
        Refuse(r.Bool("thresholding", false), path, "thresholding", $"true: dynamic thresholding is not supported by CudaI2V's {name}; set it to false");
        r.Known("dynamic_thresholding_ratio", "sample_max_value");
        if (dpm)
        {
            var algorithm = r.String("algorithm_type", "dpmsolver++");
            Refuse(algorithm is not ("dpmsolver++" or "deis"), path, "algorithm_type",
                $"\"{algorithm}\": CudaI2V's DPMSolverMultistepScheduler runs \"dpmsolver++\" only (diffusers maps \"deis\" to it); the noise-prediction and SDE variants are not supported");
            var solver = r.String("solver_type", "midpoint");
            Refuse(solver is not ("midpoint" or "logrho" or "bh1" or "bh2"), path, "solver_type",
                $"\"{solver}\": CudaI2V's DPMSolverMultistepScheduler runs the \"midpoint\" second-order update (diffusers maps \"logrho\", \"bh1\" and \"bh2\" to it)");
            EulerAtFinal = r.Bool("euler_at_final", false);
            Refuse(r.Bool("use_lu_lambdas", false), path, "use_lu_lambdas", "true: Lu's uniform-lambda step sizes are not supported; set it to false");
            LambdaMinClipped = r.Double("lambda_min_clipped", double.NegativeInfinity);
            Check(!double.IsNaN(LambdaMinClipped), path, "lambda_min_clipped", "a number (or -Infinity)", LambdaMinClipped);
            var variance = r.OptionalString("variance_type");
            Refuse(variance is not null, path, "variance_type", $"\"{variance}\": models that predict their variance are not supported; it must be null");
        }
        else
        {
            Refuse(!r.Bool("predict_x0", true), path, "predict_x0", "false: CudaI2V's UniPCMultistepScheduler runs the data-prediction form (predict_x0 true) only");
            var solver = r.String("solver_type", "bh2");
            Refuse(solver is not ("bh2" or "midpoint" or "heun" or "logrho"), path, "solver_type",
                $"\"{solver}\": CudaI2V's UniPCMultistepScheduler runs B(h) = e^h - 1 (\"bh2\"; diffusers maps \"midpoint\", \"heun\" and \"logrho\" to it)");
            DisableCorrector = r.IntList("disable_corrector", []);
            Refuse(r.Has("solver_p"), path, "solver_p", "set: an external predictor scheduler is not supported; it must be null");
            r.Known("solver_p");
            Refuse(!LowerOrderFinal && SolverOrder == 2 && FinalSigmas == FinalSigmas.Zero, path, "lower_order_final",
                "false with solver_order 2 and final_sigmas_type \"zero\": diffusers' last UniPC step then divides by a zero step ratio and returns infinities; set lower_order_final to true");
        }
    }

    private void ReadEuler(ConfigReader r)
    {
        var path = r.Path;
        var interpolation = r.String("interpolation_type", "linear");
        Refuse(interpolation != "linear", path, "interpolation_type", $"\"{interpolation}\": CudaI2V's EulerDiscreteScheduler interpolates sigmas linearly (\"linear\") only");
        var timestepType = r.String("timestep_type", "discrete");
        Refuse(timestepType is not ("discrete" or "continuous"), path, "timestep_type", $"\"{timestepType}\": diffusers knows \"discrete\" and \"continuous\"");
        Refuse(timestepType == "continuous" && PredictionType == PredictionType.VPrediction, path, "timestep_type",
            "\"continuous\" with v_prediction: the EDM-style timesteps (0.25 log sigma) are not supported; use \"discrete\"");
        SigmaMin = r.OptionalDouble("sigma_min");
        SigmaMax = r.OptionalDouble("sigma_max");
        Check(SigmaMin is null or > 0, path, "sigma_min", "null or a number above 0", SigmaMin ?? 0);
        Check(SigmaMax is null or > 0, path, "sigma_max", "null or a number above 0", SigmaMax ?? 0);
        Check(SigmaMin is null || SigmaMax is null || SigmaMin < SigmaMax, path, "sigma_min", $"below sigma_max ({ConfigReader.Format(SigmaMax ?? 0)})", SigmaMin ?? 0);
    }

    private static void Check(bool ok, string path, string key, string allowed, object found)
    {
        if (!ok)
        {
            var text = found is double d ? ConfigReader.Format(d) : Convert.ToString(found, CultureInfo.InvariantCulture);
            throw new ModelFileException($"{path}: '{key}' must be {allowed}, found {text}.", path, key);
        }
    }

    private static void Refuse(bool refused, string path, string key, string why)
    {
        if (refused)
        {
            throw new ModelFileException($"{path}: '{key}' is {why}.", path, key);
        }
    }
}
