using CudaI2V.Kernels.Cpu;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Pipeline.Scheduling;

namespace CudaI2V.Tests.Scheduling;

/// <summary>
/// Choosing a sampler: by a config's _class_name, or by name over a folder's config read as diffusers' from_config
/// reads it (the fixtures' release variants were made exactly so: DPMSolverMultistepScheduler.from_config of the
/// release's DDIM config, and so on).
/// </summary>
public sealed class SamplerSelectionTests
{
    [Theory]
    [InlineData("dpmpp-2m", "release", "dpmpp-2m-release")]
    [InlineData("unipc", "release", "unipc-release")]
    [InlineData("dpmpp-2m", "sd-epsilon", "dpmpp-2m-sd-epsilon")]
    [InlineData("unipc", "sd-epsilon", "unipc-sd-epsilon")]
    [InlineData("euler", "sd-epsilon", "euler-sd-epsilon")]
    public void A_named_sampler_over_a_ddim_config_is_diffusers_from_config(string name, string ddimVariant, string samplerVariant)
    {
        var sampler = Samplers.Create(name, SchedulerFixtures.Folder(ddimVariant) + "/scheduler_config.json");

        var results = SamplerFixtures.Run(sampler, new CpuOps(), SamplerFixtures.Trajectory(samplerVariant, 10));

        var worst = results.Max(r => SamplerFixtures.MaxRel(r.Actual, r.Expected));
        Assert.True(worst <= 1e-5, $"{name} over {ddimVariant}: max_rel {worst:E3}");
    }

    [Fact]
    public void The_class_name_selects_and_its_absence_means_ddim()
    {
        Assert.IsType<DpmSolverSampler>(Samplers.Create(null, SamplerFixtures.ConfigPath("dpmpp-2m-release")));
        Assert.IsType<UniPcSampler>(Samplers.Create(null, SamplerFixtures.ConfigPath("unipc-release")));
        Assert.IsType<EulerSampler>(Samplers.Create(null, SamplerFixtures.ConfigPath("euler-sd-epsilon")));
        Assert.IsType<DdimSampler>(Samplers.Create(null, SchedulerFixtures.Folder("release") + "/scheduler_config.json"));
        Assert.Equal(SamplerKind.Ddim, Samplers.Declared(SamplerFixtures.WriteConfig("{}")));
        Assert.Equal(["ddim", "dpmpp-2m", "unipc", "euler"], Samplers.Names);
    }

    [Fact]
    public void Ddim_by_name_over_a_multistep_config_reads_ddims_keys_with_ddims_defaults()
    {
        var sampler = (DdimSampler)Samplers.Create("ddim", SamplerFixtures.WriteConfig("""{"_class_name": "UniPCMultistepScheduler", "solver_order": 2, "prediction_type": "v_prediction"}"""));

        var config = sampler.Scheduler.Config;
        Assert.Equal((PredictionType.VPrediction, TimestepSpacing.Leading, true), (config.PredictionType, config.TimestepSpacing, config.ClipSample));
        Assert.Contains("solver_order", config.UnknownKeys.Keys);
        Assert.Equal("ddim", sampler.Name);
    }

    [Fact]
    public void An_unknown_name_or_class_is_refused_listing_what_there_is()
    {
        var path = SamplerFixtures.ConfigPath("unipc-release");
        Assert.Contains("Unknown sampler 'heun'; CudaI2V has ddim, dpmpp-2m, unipc, euler", Assert.Throws<ArgumentException>(() => Samplers.Create("heun", path)).Message, StringComparison.Ordinal);

        var lms = SamplerFixtures.WriteConfig("""{"_class_name": "LMSDiscreteScheduler"}""");
        var e = Assert.Throws<ModelFileException>(() => Samplers.Create(null, lms));
        Assert.Contains("'_class_name' is \"LMSDiscreteScheduler\"; CudaI2V runs DDIMScheduler, DPMSolverMultistepScheduler, UniPCMultistepScheduler, EulerDiscreteScheduler", e.Message, StringComparison.Ordinal);
        Assert.Contains("--sampler ddim|dpmpp-2m|unipc|euler", e.Message, StringComparison.Ordinal);
        Assert.IsType<EulerSampler>(Samplers.Create("euler", lms)); // by name, the class in the file does not matter
    }
}
