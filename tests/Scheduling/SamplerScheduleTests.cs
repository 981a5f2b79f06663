using CudaI2V.Kernels.Cpu;
using CudaI2V.Pipeline.Scheduling;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Scheduling;

/// <summary>
/// Schedules no fixture shows: every sampler with every timestep spacing at awkward step counts, on the
/// Stable-Diffusion and the release (zero-SNR cosine) tables, must give a valid schedule that runs; Karras sigmas,
/// lambda clipping, the final sigma types, the order sequences and the corrector switches behave as diffusers' code
/// says; and what cannot run is refused with a message saying why.
/// </summary>
public sealed class SamplerScheduleTests
{
    private const string SdEpsilon = "\"beta_start\": 0.00085, \"beta_end\": 0.012, \"beta_schedule\": \"scaled_linear\", \"prediction_type\": \"epsilon\", \"steps_offset\": 1";
    private const string Release = "\"beta_schedule\": \"squaredcos_cap_v2\", \"rescale_betas_zero_snr\": true, \"prediction_type\": \"v_prediction\", \"steps_offset\": 1";

    public static TheoryData<string, string, string> Combinations()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var name in new[] { "dpmpp-2m", "unipc", "euler" })
        {
            foreach (var spacing in new[] { "leading", "trailing", "linspace" })
            {
                data.Add(name, spacing, SdEpsilon);
                data.Add(name, spacing, Release);
            }
        }

        return data;
    }

    /// <summary>A sampler of <paramref name="name"/> on a config written from JSON fragments.</summary>
    public static MultistepSampler Make(string name, params string[] fragments) =>
        (MultistepSampler)Samplers.Create(name, SamplerFixtures.WriteConfig("{" + string.Join(", ", fragments) + "}"));

    [Theory]
    [MemberData(nameof(Combinations))]
    public void Every_spacing_gives_a_valid_schedule_that_runs(string name, string spacing, string table)
    {
        var sampler = Make(name, table, $"\"timestep_spacing\": \"{spacing}\"");
        foreach (var steps in new[] { 1, 2, 7, 25, 61, 100, 500 })
        {
            sampler.SetTimesteps(steps);
            var what = $"{name} {spacing} {steps} steps";
            var t = sampler.Timesteps;
            var sigmas = sampler.Sigmas;
            Assert.True(t.Count == steps, $"{what}: {t.Count} timesteps");
            Assert.All(t, v => Assert.InRange(v, 0f, 999f));
            Assert.True(t.Zip(t.Skip(1)).All(p => p.First > p.Second), $"{what}: timesteps not decreasing: {string.Join(", ", t)}");
            Assert.Equal(steps + 1, sigmas.Count);
            Assert.Equal(0f, sigmas[^1]);
            Assert.True(sigmas.Zip(sigmas.Skip(1)).All(p => p.First > p.Second), $"{what}: sigmas not decreasing");
            Assert.Equal(steps, sampler.Steps.Count);
        }

        AssertRunsFinite(sampler, 7);
    }

    [Fact]
    public void Eulers_linspace_timesteps_are_fractional_and_its_sigmas_interpolate_the_table()
    {
        var sampler = (EulerSampler)Make("euler", SdEpsilon, "\"timestep_spacing\": \"linspace\"");
        sampler.SetTimesteps(7);

        Assert.Equal(Enumerable.Range(0, 7).Select(i => (float)(999.0 / 6 * (6 - i))), sampler.Timesteps);
        var t = sampler.Timesteps[1]; // 832.5
        var j = (int)Math.Floor(t);
        var expected = sampler.TrainingSigmas[j] + ((sampler.TrainingSigmas[j + 1] - (double)sampler.TrainingSigmas[j]) * (t - j));
        Assert.Equal((float)expected, sampler.Sigmas[1]);
        Assert.Equal(sampler.Sigmas[0], sampler.InitNoiseSigma); // linspace and trailing: the largest sigma itself
        Assert.Equal((float)(1 / Math.Sqrt((sampler.Sigmas[3] * (double)sampler.Sigmas[3]) + 1)), sampler.InputScale(3), 1e-7f);
    }

    [Theory]
    [InlineData("dpmpp-2m")]
    [InlineData("unipc")]
    [InlineData("euler")]
    public void Karras_sigmas_span_the_table_and_map_back_to_timesteps(string name)
    {
        var sampler = Make(name, SdEpsilon, "\"use_karras_sigmas\": true");
        sampler.SetTimesteps(12);

        var s = sampler.Sigmas;
        Assert.Equal(sampler.TrainingSigmas[^1], s[0], 1e-5f * s[0]);
        Assert.Equal(name == "euler" ? sampler.Sigmas[^2] : sampler.TrainingSigmas[0], s[^2], 1e-6f);
        Assert.Equal(999f, sampler.Timesteps[0], name == "euler" ? 0.5f : 0f);
        Assert.True(sampler.Timesteps.Zip(sampler.Timesteps.Skip(1)).All(p => p.First >= p.Second));
        // Karras' rho = 7 spacing: sigma^(1/7) falls by the same amount every step.
        var roots = s.Take(12).Select(v => Math.Pow(v, 1 / 7.0)).ToArray();
        var gaps = roots.Zip(roots.Skip(1)).Select(p => p.First - p.Second).ToArray();
        Assert.All(gaps, g => Assert.Equal(gaps[0], g, 1e-5));
        AssertRunsFinite(sampler, 12);
    }

    [Theory]
    [InlineData("dpmpp-2m")]
    [InlineData("unipc")]
    public void Karras_sigmas_on_the_zero_snr_release_table_are_refused_where_diffusers_fails(string name)
    {
        // alphas_cumprod[-1] = 2^-24 makes the largest sigma 4096: the first Karras sigmas all map back to timestep 999,
        // and diffusers, finding the first timestep twice, starts at its second occurrence and runs off the end.
        var sampler = Make(name, Release, "\"use_karras_sigmas\": true");

        Assert.Contains("with Karras sigmas and 25 steps gives the first timestep 999 twice", Refusal(() => sampler.SetTimesteps(25)), StringComparison.Ordinal);
        sampler.SetTimesteps(1);
        Assert.Equal(4096f, sampler.Sigmas[0], 0.01f);
    }

    [Fact]
    public void Lambda_clipping_drops_the_timesteps_below_the_clip()
    {
        var sampler = (DpmSolverSampler)Make("dpmpp-2m", Release, "\"lambda_min_clipped\": -3.0", "\"timestep_spacing\": \"linspace\"");
        var last = sampler.LastTimestep;
        sampler.SetTimesteps(10);

        Assert.InRange(last, 900, 999);
        Assert.Equal(Math.Round((last - 1) * 10 / 10.0), sampler.Timesteps[0]);
        Assert.All(sampler.Timesteps, t => Assert.True(MultistepSampler.VpScalars(sampler.TrainingSigmas[(int)t]).Lambda >= -3.0 - 1e-6));
    }

    [Theory]
    [InlineData(10, new[] { 1, 2, 2, 2, 2, 2, 2, 2, 2, 1 })]
    [InlineData(16, new[] { 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2 })]
    public void Dpm_solver_with_sigma_min_lowers_the_last_order_below_15_steps_only(int steps, int[] orders)
    {
        var sampler = Make("dpmpp-2m", SdEpsilon, "\"final_sigmas_type\": \"sigma_min\"");
        sampler.SetTimesteps(steps);

        Assert.Equal(orders, sampler.Steps.Select(s => s.Order));
        Assert.Equal(sampler.TrainingSigmas[0], sampler.Sigmas[^1]);

        var zero = Make("dpmpp-2m", SdEpsilon); // final sigma 0: the last step is first order at any step count
        zero.SetTimesteps(steps);
        Assert.Equal([1, .. Enumerable.Repeat(2, steps - 2), 1], zero.Steps.Select(s => s.Order));
    }

    [Fact]
    public void Unipc_corrects_every_step_but_the_first_unless_told_not_to()
    {
        var sampler = Make("unipc", SdEpsilon);
        sampler.SetTimesteps(6);
        Assert.Equal([1, 2, 2, 2, 2, 1], sampler.Steps.Select(s => s.Order));
        Assert.Equal([false, true, true, true, true, true], sampler.Steps.Select(s => s.Combination.Correction is not null));
        Assert.Equal(3, sampler.HistoryDepth);

        var partly = Make("unipc", SdEpsilon, "\"disable_corrector\": [0, 3]");
        partly.SetTimesteps(6);
        Assert.Equal([false, false, true, true, false, true], partly.Steps.Select(s => s.Combination.Correction is not null));
    }

    [Fact]
    public void Schedules_that_cannot_run_are_refused_saying_why()
    {
        var leading = Make("dpmpp-2m", SdEpsilon, "\"timestep_spacing\": \"leading\"");
        Assert.Contains("DPMSolverMultistepScheduler with leading spacing and 999 steps gives timestep 1000, outside the training timesteps [0, 999]", Refusal(() => leading.SetTimesteps(999)), StringComparison.Ordinal);
        Assert.Contains("and 1000 steps gives the first timestep 1 twice", Refusal(() => leading.SetTimesteps(1000)), StringComparison.Ordinal);
        Assert.Contains("between 1 and num_train_timesteps (1000)", Refusal(() => leading.SetTimesteps(0)), StringComparison.Ordinal);
        Assert.Contains("between 1 and num_train_timesteps (1000)", Refusal(() => leading.SetTimesteps(1001)), StringComparison.Ordinal);

        var euler = Make("euler", SdEpsilon);
        Assert.Throws<InvalidOperationException>(() => euler.InputScale(0));
        Assert.Throws<InvalidOperationException>(() => euler.Start(new CpuOps(), new TensorShape(2, 3)));
        euler.SetTimesteps(3);
        Assert.Contains("eta applies to DDIM only", Refusal(() => euler.Start(new CpuOps(), new TensorShape(2, 3), eta: 0.5f)), StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => euler.InputScale(3));
    }

    [Fact]
    public void A_run_takes_its_steps_in_order_without_noise_and_stops_at_the_end()
    {
        var sampler = Make("dpmpp-2m", SdEpsilon);
        sampler.SetTimesteps(2);
        var shape = new TensorShape(2, 3);
        var ops = new CpuOps();
        var latents = Tensor.FromSpan<float>([0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f], shape);
        var run = sampler.Start(ops, shape);

        Assert.Contains("takes no noise", Refusal(() => run.Step(latents.To(DType.F32), latents, null, noise: latents.To(DType.F32))), StringComparison.Ordinal);
        run.Step(latents.To(DType.F32), latents, null);
        run.Step(latents.To(DType.F32), latents, null);
        Assert.Equal(2, run.NextStep);
        Assert.Throws<InvalidOperationException>(() => run.Step(latents.To(DType.F32), latents, null));
    }

    /// <summary>Runs <paramref name="steps"/> steps with the fixtures' model rule on a small sample; every value stays finite.</summary>
    private static void AssertRunsFinite(Sampler sampler, int steps)
    {
        sampler.SetTimesteps(steps);
        var shape = new TensorShape(2, 3, 4);
        var ops = new CpuOps();
        var noise = new Support.TestData(5).Floats((int)shape.ElementCount);
        var latents = Tensor.FromSpan<float>(noise.Select(v => v * sampler.InitNoiseSigma).ToArray(), shape);
        var input = Tensor.Zeros(DType.F32, shape);
        var run = sampler.Start(ops, shape);
        run.WriteInput(latents, input);
        for (var i = 0; i < steps; i++)
        {
            var output = Tensor.FromSpan<float>(input.ToFloat32Array().Select((x, k) => (0.5f * x) + (0.25f * noise[k])).ToArray(), shape);
            run.Step(output, latents, null, input);
            Assert.True(ops.CountNonFinite(latents) == 0, $"{sampler.ClassName} step {i} of {steps}: non-finite latents");
        }
    }

    private static string Refusal(Action action) => Assert.ThrowsAny<ArgumentException>(action).Message;
}
