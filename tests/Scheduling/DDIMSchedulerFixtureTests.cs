using CudaI2V.Loader.Safetensors;
using CudaI2V.Pipeline.Scheduling;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Scheduling;

/// <summary>DDIMScheduler against the tables and steps diffusers recorded for four configs.</summary>
public sealed class DDIMSchedulerFixtureTests
{
    public static TheoryData<string> Variants => SchedulerFixtures.Variants;

    [Theory]
    [MemberData(nameof(Variants))]
    public void Alphas_cumprod_and_the_final_alpha_match_diffusers(string variant)
    {
        var scheduler = new DDIMScheduler(SchedulerFixtures.Config(variant));
        var expected = SchedulerFixtures.Expected(variant);

        // The issue asks for 1e-7; the tables are in fact bit-exact (float32 linspace, float64-accumulated cumprod),
        // so any difference at all would mean a step of PyTorch's arithmetic is no longer reproduced.
        Assert.Equal(expected.AlphasCumprod.Length, scheduler.AlphasCumprod.Count);
        var maxError = expected.AlphasCumprod.Select((e, i) => Math.Abs(scheduler.AlphasCumprod[i] - e)).Max();
        Assert.True(maxError <= 1e-7, $"max |alphas_cumprod error| = {maxError}");
        Tolerance.Exact.AssertClose(expected.AlphasCumprod, scheduler.AlphasCumprod.ToArray(), what: $"{variant} alphas_cumprod");
        Assert.Equal(expected.FinalAlphaCumprod, scheduler.FinalAlphaCumprod);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Timesteps_match_diffusers_exactly_for_every_step_count(string variant)
    {
        var scheduler = new DDIMScheduler(SchedulerFixtures.Config(variant));
        var expected = SchedulerFixtures.Expected(variant).Timesteps;
        Assert.Equal([1, 10, 20, 25, 30, 50], expected.Keys.Order());
        foreach (var (steps, timesteps) in expected)
        {
            scheduler.SetTimesteps(steps);
            Assert.Equal(steps, scheduler.NumInferenceSteps);
            Assert.Equal(timesteps, scheduler.Timesteps);
        }
    }

    [Fact]
    public void Clip_sample_is_what_makes_the_linear_trailing_fixture_match()
    {
        // The fixture leaves clip_sample at its default (true); the same steps without clipping differ, so the
        // passing 'verify scheduler' on this fixture really exercises the clipping.
        var clipped = new DDIMScheduler(SchedulerFixtures.Config("linear-trailing-clip"));
        var (config, _) = SchedulerFixtures.FromJson("""{"beta_schedule": "linear", "prediction_type": "epsilon", "timestep_spacing": "trailing", "clip_sample": false}""");
        var unclipped = new DDIMScheduler(config);
        clipped.SetTimesteps(30);
        unclipped.SetTimesteps(30);
        using var io = SafetensorsFile.Open(SchedulerFixtures.Steps("linear-trailing-clip"));
        var t = (int)io.GetTensor("step0.t").AsSpan<long>()[0];
        var output = io.GetTensor("step0.model_output").ToFloat32Array();
        var sample = io.GetTensor("step0.sample").ToFloat32Array();
        var expected = io.GetTensor("step0.prev_sample").ToFloat32Array();
        var withClip = new float[sample.Length];
        var withoutClip = new float[sample.Length];
        clipped.Step(output, t, sample, withClip);
        unclipped.Step(output, t, sample, withoutClip);
        Assert.Equal(expected, withClip);
        Assert.True(MaxAbs(withoutClip, expected) > 1e-2);
    }

    private static double MaxAbs(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
}
