using CudaI2V.Kernels.Cpu;
using CudaI2V.Loader;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Pipeline.Scheduling;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Scheduling;

/// <summary>
/// DPM-Solver++, UniPC and Euler against what diffusers 0.29.2 computed for seven configs: the timesteps exactly for
/// every recorded step count, the sigmas and VP scalars, and whole trajectories run in order through CpuOps's two
/// sampler ops (the multistep history and UniPC's corrector are only exercised that way).
/// </summary>
public sealed class SamplerFixtureTests
{
    /// <summary>The fixtures' bar: torch's float32 log/exp and ours differ by an ulp here and there.</summary>
    private const double MaxRel = 1e-5;

    public static TheoryData<string> Variants => SamplerFixtures.Variants;

    public static TheoryData<string, int> Trajectories => SamplerFixtures.Trajectories();

    [Theory]
    [MemberData(nameof(Variants))]
    public void The_config_selects_the_class_diffusers_ran(string variant)
    {
        var sampler = SamplerFixtures.Create(variant);
        Assert.Equal(SamplerFixtures.Schedule(variant).ClassName, sampler.ClassName);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Timesteps_match_diffusers_exactly_for_every_step_count(string variant)
    {
        var sampler = SamplerFixtures.Create(variant);
        var expected = SamplerFixtures.Schedule(variant).Steps;
        Assert.Equal([1, 2, 3, 5, 10, 15, 20, 25, 30, 50], expected.Keys.Order());
        foreach (var (steps, schedule) in expected)
        {
            sampler.SetTimesteps(steps);
            Assert.Equal(schedule.Timesteps.Select(t => (float)t), sampler.Timesteps);
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Sigmas_and_the_per_step_scalars_match_diffusers(string variant)
    {
        var sampler = SamplerFixtures.Create(variant);
        foreach (var (steps, schedule) in SamplerFixtures.Schedule(variant).Steps)
        {
            sampler.SetTimesteps(steps);
            var what = $"{variant} {steps} steps";

            // Sigmas at the spaced timesteps are table entries, bit for bit; Karras sigmas go through pow in float64.
            Tolerance.Exact.AssertClose(schedule.Sigmas, sampler.Sigmas.ToArray(), what: what + " sigmas");
            if (schedule.AlphaT is null)
            {
                continue;
            }

            var scalars = sampler.Sigmas.Select(s => MultistepSampler.VpScalars(s)).ToArray();
            // diffusers computes them in float32: lambda = log(alpha) - log(sigma_t) cancels near 0 (about 1e-7 absolute).
            var bar = new Tolerance(2e-7, 1e-6, 1e-10);
            bar.AssertClose(schedule.AlphaT, scalars.Select(s => (float)s.Alpha).ToArray(), what: what + " alpha_t");
            bar.AssertClose(schedule.SigmaT!, scalars.Select(s => (float)s.Sigma).ToArray(), what: what + " sigma_t");
            var finite = schedule.LambdaT!.Select((l, i) => (Expected: l, Actual: scalars[i].Lambda)).ToLookup(p => double.IsFinite(p.Expected));
            Assert.All(finite[false], p => Assert.Equal(p.Expected, p.Actual)); // +infinity at sigma 0
            bar.AssertClose(finite[true].Select(p => p.Expected).ToArray(), finite[true].Select(p => (float)p.Actual).ToArray(), what: what + " lambda_t");
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void The_initial_noise_sigma_matches_diffusers(string variant)
    {
        // schedule.json records init_noise_sigma before set_timesteps; the trajectories scale the initial noise (the
        // raw uniform values of fixture_tensor, scale 1) by its value after set_timesteps, as the pipeline reads it.
        var sampler = SamplerFixtures.Create(variant);
        Assert.Equal((float)SamplerFixtures.Schedule(variant).InitNoiseSigma, sampler.InitNoiseSigma);
        foreach (var steps in new[] { 10, 25 })
        {
            using var io = SafetensorsFile.Open(SamplerFixtures.Trajectory(variant, steps));
            var sample = io.GetTensor("step0.sample");
            sampler.SetTimesteps(steps);
            var noise = FixtureWeights.Input("initial_noise", sample.Shape, 1f).ToFloat32Array();
            var expected = noise.Select(v => v * sampler.InitNoiseSigma).ToArray();
            Assert.Equal(expected, sample.ToFloat32Array());
        }
    }

    [Theory]
    [MemberData(nameof(Trajectories))]
    public void A_whole_trajectory_matches_diffusers_at_every_step(string variant, int steps)
    {
        var sampler = SamplerFixtures.Create(variant);
        using (var io = SafetensorsFile.Open(SamplerFixtures.Trajectory(variant, steps)))
        {
            sampler.SetTimesteps(steps);
            Assert.Equal(io.GetTensor("timesteps").Contiguous().AsSpan<long>().ToArray().Select(t => (float)t), sampler.Timesteps);
        }

        var results = SamplerFixtures.Run(sampler, new CpuOps(), SamplerFixtures.Trajectory(variant, steps));

        Assert.Equal((2 * steps) + 1, results.Count);
        var worst = results.Select(r => (r.Name, Rel: SamplerFixtures.MaxRel(r.Actual, r.Expected))).MaxBy(r => r.Rel);
        Assert.True(worst.Rel <= MaxRel, $"{variant} {steps} steps: {worst.Name} max_rel {worst.Rel:E3} > {MaxRel:E0}");
    }

    [Theory]
    [MemberData(nameof(Trajectories))]
    public void The_recorded_model_outputs_are_the_fixture_rule_of_the_recorded_inputs(string variant, int steps)
    {
        // The trajectory test recomputes each model output from our own input; this pins the rule it relies on.
        using var io = SafetensorsFile.Open(SamplerFixtures.Trajectory(variant, steps));
        for (var i = 0; i < steps; i++)
        {
            var input = io.GetTensor($"step{i}.model_input").ToFloat32Array();
            var noise = FixtureWeights.Input($"step{i}.noise", io.GetTensor($"step{i}.model_input").Shape, 1f).ToFloat32Array();
            Assert.Equal(input.Select((x, k) => (0.5f * x) + (0.25f * noise[k])).ToArray(), io.GetTensor($"step{i}.model_output").ToFloat32Array());
        }
    }
}
