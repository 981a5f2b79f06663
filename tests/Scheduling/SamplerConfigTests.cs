using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Scheduling;

/// <summary>
/// Reading a scheduler config as a multistep class: that class's defaults, a DDIM config's keys ignored as from_config
/// ignores them, the values diffusers maps onto supported ones, and every unsupported or out-of-range setting refused
/// with the file, the key and what is allowed.
/// </summary>
public sealed class SamplerConfigTests
{
    public static TheoryData<SamplerKind, string, string, string> Refusals() => new()
    {
        { SamplerKind.DpmSolverMultistep, """{"algorithm_type": "sde-dpmsolver++"}""", "algorithm_type", "is \"sde-dpmsolver++\": CudaI2V's DPMSolverMultistepScheduler runs \"dpmsolver++\" only" },
        { SamplerKind.DpmSolverMultistep, """{"algorithm_type": "dpmsolver"}""", "algorithm_type", "the noise-prediction and SDE variants are not supported" },
        { SamplerKind.DpmSolverMultistep, """{"solver_type": "heun"}""", "solver_type", "is \"heun\": CudaI2V's DPMSolverMultistepScheduler runs the \"midpoint\"" },
        { SamplerKind.DpmSolverMultistep, """{"solver_order": 3}""", "solver_order", "must be 1 or 2 (CudaI2V's DPMSolverMultistepScheduler runs orders 1 and 2; diffusers' third order is not offered), found 3" },
        { SamplerKind.DpmSolverMultistep, """{"thresholding": true}""", "thresholding", "is true: dynamic thresholding is not supported" },
        { SamplerKind.DpmSolverMultistep, """{"use_lu_lambdas": true}""", "use_lu_lambdas", "is true: Lu's uniform-lambda step sizes are not supported" },
        { SamplerKind.DpmSolverMultistep, """{"variance_type": "learned_range"}""", "variance_type", "is \"learned_range\": models that predict their variance are not supported" },
        { SamplerKind.DpmSolverMultistep, """{"final_sigmas_type": "denoise_to_zero"}""", "final_sigmas_type", "is \"denoise_to_zero\"; CudaI2V supports \"zero\", \"sigma_min\"" },
        { SamplerKind.UniPcMultistep, """{"predict_x0": false}""", "predict_x0", "is false: CudaI2V's UniPCMultistepScheduler runs the data-prediction form" },
        { SamplerKind.UniPcMultistep, """{"solver_type": "bh1"}""", "solver_type", "is \"bh1\": CudaI2V's UniPCMultistepScheduler runs B(h) = e^h - 1" },
        { SamplerKind.UniPcMultistep, """{"solver_order": 3}""", "solver_order", "must be 1 or 2 (CudaI2V's UniPCMultistepScheduler runs orders 1 and 2), found 3" },
        { SamplerKind.UniPcMultistep, """{"solver_p": {"_class_name": "DPMSolverMultistepScheduler"}}""", "solver_p", "is set: an external predictor scheduler is not supported" },
        { SamplerKind.UniPcMultistep, """{"lower_order_final": false}""", "lower_order_final", "returns infinities; set lower_order_final to true" },
        { SamplerKind.UniPcMultistep, """{"thresholding": true}""", "thresholding", "is true: dynamic thresholding is not supported" },
        { SamplerKind.EulerDiscrete, """{"interpolation_type": "log_linear"}""", "interpolation_type", "is \"log_linear\": CudaI2V's EulerDiscreteScheduler interpolates sigmas linearly" },
        { SamplerKind.EulerDiscrete, """{"timestep_type": "continuous", "prediction_type": "v_prediction"}""", "timestep_type", "is \"continuous\" with v_prediction" },
        { SamplerKind.EulerDiscrete, """{"sigma_min": -1}""", "sigma_min", "must be null or a number above 0, found -1" },
        { SamplerKind.EulerDiscrete, """{"steps_offset": 1000}""", "steps_offset", "must be an integer from 0 to num_train_timesteps - 1 (999), found 1000" },
        { SamplerKind.EulerDiscrete, """{"num_train_timesteps": 1}""", "num_train_timesteps", "must be an integer from 2 to 100000, found 1" },
        { SamplerKind.DpmSolverMultistep, """{"beta_end": 1.5}""", "beta_end", "must be a number in (0, 1), found 1.5" },
        { SamplerKind.UniPcMultistep, """{"num_train_timesteps": 3, "trained_betas": [0.1, 0.2]}""", "trained_betas", "must be a list of num_train_timesteps (3) values, found 2 values" },
        { SamplerKind.UniPcMultistep, """{"num_train_timesteps": 2, "trained_betas": [0.1, 1.0]}""", "trained_betas", "must be values in (0, 1), found 1" },
        { SamplerKind.DpmSolverMultistep, """{"timestep_spacing": "uniform"}""", "timestep_spacing", "is \"uniform\"; CudaI2V supports \"leading\", \"trailing\", \"linspace\"" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void Unsupported_or_out_of_range_settings_are_refused_by_name(SamplerKind kind, string json, string key, string message)
    {
        var path = SamplerFixtures.WriteConfig(json);

        var e = Assert.Throws<ModelFileException>(() => SamplerConfig.Load(path, kind));

        Assert.Contains($"{path}: '{key}' ", e.Message, StringComparison.Ordinal);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.Equal(path, e.FilePath);
    }

    [Theory]
    [InlineData(SamplerKind.DpmSolverMultistep, 2)]
    [InlineData(SamplerKind.UniPcMultistep, 2)]
    [InlineData(SamplerKind.EulerDiscrete, 1)]
    public void An_empty_config_takes_the_class_defaults(SamplerKind kind, int order)
    {
        var config = SamplerConfig.Load(SamplerFixtures.WriteConfig("{}"), kind);

        Assert.Equal(
            (1000, BetaSchedule.Linear, 0.0001, 0.02, PredictionType.Epsilon, TimestepSpacing.Linspace, 0, false),
            (config.NumTrainTimesteps, config.BetaSchedule, config.BetaStart, config.BetaEnd, config.PredictionType, config.TimestepSpacing, config.StepsOffset, config.RescaleBetasZeroSnr));
        Assert.Equal((order, false, FinalSigmas.Zero), (config.SolverOrder, config.UseKarrasSigmas, config.FinalSigmas));
        Assert.Equal(kind != SamplerKind.EulerDiscrete, config.LowerOrderFinal);
        Assert.Equal(double.NegativeInfinity, config.LambdaMinClipped);
        Assert.Empty(config.UnknownKeys);
    }

    [Fact]
    public void A_ddim_configs_own_keys_are_ignored_as_from_config_ignores_them()
    {
        var config = SamplerConfig.Load(SchedulerFixtures.Folder("release") + "/scheduler_config.json", SamplerKind.DpmSolverMultistep);

        Assert.Equal(
            (BetaSchedule.SquaredCosCapV2, PredictionType.VPrediction, TimestepSpacing.Leading, 1, true),
            (config.BetaSchedule, config.PredictionType, config.TimestepSpacing, config.StepsOffset, config.RescaleBetasZeroSnr));
        Assert.Contains("clip_sample", config.UnknownKeys.Keys);
        Assert.Contains("set_alpha_to_one", config.UnknownKeys.Keys);
    }

    [Theory]
    [InlineData(SamplerKind.DpmSolverMultistep, """{"algorithm_type": "deis", "solver_type": "bh2"}""")]
    [InlineData(SamplerKind.DpmSolverMultistep, """{"solver_type": "logrho", "euler_at_final": true, "lambda_min_clipped": -5.1}""")]
    [InlineData(SamplerKind.UniPcMultistep, """{"solver_type": "midpoint", "disable_corrector": [0, 3]}""")]
    [InlineData(SamplerKind.UniPcMultistep, """{"lower_order_final": false, "final_sigmas_type": "sigma_min"}""")]
    [InlineData(SamplerKind.EulerDiscrete, """{"timestep_type": "continuous", "use_karras_sigmas": true, "sigma_min": 0.1, "sigma_max": 10}""")]
    public void Values_diffusers_maps_onto_a_supported_setting_are_accepted(SamplerKind kind, string json)
    {
        var config = SamplerConfig.Load(SamplerFixtures.WriteConfig(json), kind);

        Assert.Equal(kind, config.Kind);
        Assert.Empty(config.UnknownKeys);
    }

    [Fact]
    public void The_declared_class_is_read_without_the_rest_and_ddim_is_not_a_sampler_config()
    {
        Assert.Equal("UniPCMultistepScheduler", SamplerConfig.DeclaredClass(SamplerFixtures.ConfigPath("unipc-release")));
        Assert.Null(SamplerConfig.DeclaredClass(SamplerFixtures.WriteConfig("{}")));
        Assert.Throws<ArgumentOutOfRangeException>(() => SamplerConfig.Load(SamplerFixtures.WriteConfig("{}"), SamplerKind.Ddim));
        Assert.Contains("Config file not found", Assert.Throws<ModelFileException>(() => SamplerConfig.Load(Fixtures.Path("no-such.json"), SamplerKind.EulerDiscrete)).Message, StringComparison.Ordinal);
    }
}
