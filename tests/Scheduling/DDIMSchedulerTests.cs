using CudaI2V.Loader;
using CudaI2V.Pipeline.Noise;
using CudaI2V.Pipeline.Scheduling;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Scheduling;

/// <summary>DDIMScheduler's formulas checked by hand (eta &gt; 0, clipping, the last step) and its refusals.</summary>
public sealed class DDIMSchedulerTests
{
    private const string SdEpsilon = """{"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "steps_offset": 1, "set_alpha_to_one": false, "clip_sample": false}""";

    private static DDIMScheduler Scheduler(string json) => new(SchedulerFixtures.FromJson(json).Config);

    private static float[] Normal(ulong seed, int n)
    {
        var values = new float[n];
        new SeededRandom(seed).FillStandardNormal(values);
        return values;
    }

    [Fact]
    public void Thresholding_is_refused_naming_the_config_key()
    {
        var (config, _) = SchedulerFixtures.FromJson("""{"thresholding": true, "clip_sample": false}""");
        var e = Assert.Throws<ModelFileException>(() => new DDIMScheduler(config));
        Assert.Equal("thresholding", e.TensorName);
        Assert.Equal(config.Path, e.FilePath);
        Assert.Contains("'thresholding' is true", e.Message, StringComparison.Ordinal);
        Assert.Contains("dynamic thresholding", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    [InlineData(1001)]
    public void A_step_count_outside_1_to_num_train_timesteps_is_refused(int steps)
    {
        var scheduler = new DDIMScheduler(SchedulerFixtures.Config("release"));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.SetTimesteps(steps));
        Assert.Equal("numInferenceSteps", e.ParamName);
        Assert.Contains("between 1 and num_train_timesteps (1000)", e.Message, StringComparison.Ordinal);
        Assert.Empty(scheduler.Timesteps);
        Assert.Equal(0, scheduler.NumInferenceSteps);
    }

    [Fact]
    public void Leading_steps_whose_offset_leaves_the_table_are_refused_up_front()
    {
        // release: leading spacing, steps_offset 1; 1000 steps would start at t = 1000, which diffusers cannot index.
        var scheduler = new DDIMScheduler(SchedulerFixtures.Config("release"));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.SetTimesteps(1000));
        Assert.Contains("timestep 1000", e.Message, StringComparison.Ordinal);
        scheduler.SetTimesteps(500);
        Assert.Equal(999, scheduler.Timesteps[0]);
    }

    [Fact]
    public void Trailing_spacing_keeps_n_timesteps_where_numpy_arange_gives_one_more()
    {
        // np.arange(1000, 0, -1000 / 61) has 62 elements (the length 61.000000000000007 rounds up); diffusers' last
        // timestep would be -1.
        var scheduler = new DDIMScheduler(SchedulerFixtures.Config("linear-trailing-clip"));
        scheduler.SetTimesteps(61);
        Assert.Equal(61, scheduler.Timesteps.Count);
        Assert.Equal(999, scheduler.Timesteps[0]);
        Assert.Equal(15, scheduler.Timesteps[^1]);
        scheduler.SetTimesteps(1000);
        Assert.Equal(Enumerable.Range(0, 1000).Reverse(), scheduler.Timesteps);
    }

    [Fact]
    public void Step_needs_timesteps_and_a_timestep_inside_the_table()
    {
        var scheduler = new DDIMScheduler(SchedulerFixtures.Config("release"));
        var values = new float[4];
        Assert.Throws<InvalidOperationException>(() => scheduler.Step(values, 981, values, values));
        scheduler.SetTimesteps(50);
        Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.Step(values, 1000, values, values));
        Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.Step(values, -1, values, values));
        Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.Step(values, 981, values, values, eta: -0.5f));
        Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.Step(values, 981, values, values, eta: float.NaN));
        Assert.Throws<ArgumentException>(() => scheduler.Step(values, 981, values, new float[3]));
    }

    [Fact]
    public void The_release_tables_end_at_zero_terminal_snr_and_the_last_step_returns_x0()
    {
        var scheduler = new DDIMScheduler(SchedulerFixtures.Config("release"));
        Assert.Equal(1f, scheduler.Betas[999]);
        Assert.Equal(0f, scheduler.AlphasCumprod[999]);
        Assert.Equal(0.99995875f, scheduler.AlphasCumprod[0]);
        Assert.Equal(1f, scheduler.FinalAlphaCumprod);

        scheduler.SetTimesteps(50);
        Assert.Equal(1, scheduler.Timesteps[^1]);
        var s = scheduler.GetStepScalars(1);
        Assert.Equal(-19, s.PreviousTimestep);
        Assert.Equal(1f, s.SqrtAlphaProdTPrev);
        Assert.Equal(0f, s.DirectionCoefficient);

        // v-prediction: x0 = sqrt(abar_t) x - sqrt(1 - abar_t) v, in float32, and with abar_prev = 1 that is x_prev.
        float[] sample = [0.5f, -1.25f, 2f], v = [0.1f, 0.3f, -0.7f];
        var previous = new float[3];
        scheduler.Step(v, 1, sample, previous);
        Assert.Equal(sample.Zip(v, (x, m) => (s.SqrtAlphaProdT * x) - (s.SqrtBetaProdT * m)), previous);
    }

    [Fact]
    public void Eta_above_zero_adds_the_given_noise_by_the_ddim_formula()
    {
        var scheduler = Scheduler(SdEpsilon);
        scheduler.SetTimesteps(25);
        const int T = 521; // a timestep of 25 leading steps; prev = 521 - 40 = 481
        const float Eta = 0.7f;
        var sample = Normal(1, 64);
        var epsilon = Normal(2, 64);
        var noise = Normal(3, 64);
        var actual = new float[64];
        scheduler.Step(epsilon, T, sample, actual, Eta, noise);

        // By hand, in double, from the float32 tables.
        double at = scheduler.AlphasCumprod[T], ap = scheduler.AlphasCumprod[T - 40];
        var variance = (1 - ap) / (1 - at) * (1 - (at / ap));
        var std = Eta * Math.Sqrt(variance);
        var expected = new double[64];
        for (var i = 0; i < 64; i++)
        {
            var x0 = (sample[i] - (Math.Sqrt(1 - at) * epsilon[i])) / Math.Sqrt(at);
            expected[i] = (Math.Sqrt(ap) * x0) + (Math.Sqrt(1 - ap - (std * std)) * epsilon[i]) + (std * noise[i]);
        }

        Assert.True(std > 0.1, $"std_dev_t = {std}");
        new Tolerance(1e-5, 1e-5, 1e-11).AssertClose(expected, actual, what: "x_prev with eta 0.7");
        var scalars = scheduler.GetStepScalars(T, Eta);
        Assert.Equal(std, scalars.StdDevT, 1e-6);
        Assert.Equal(variance, scalars.Variance, 1e-6);

        // eta > 0 without noise is refused rather than silently deterministic.
        Assert.Throws<ArgumentException>(() => scheduler.Step(epsilon, T, sample, actual, Eta));
    }

    [Fact]
    public void Eta_above_zero_with_the_seeded_generator_is_deterministic()
    {
        var scheduler = Scheduler(SdEpsilon);
        scheduler.SetTimesteps(25);
        var shape = new TensorShape(2, 4, 3, 5);
        var sample = new SeededRandom(1).StandardNormal(shape);
        var epsilon = new SeededRandom(2).StandardNormal(shape);

        var first = scheduler.Step(epsilon, 521, sample, eta: 1f, generator: new SeededRandom(99));
        var second = scheduler.Step(epsilon, 521, sample, eta: 1f, generator: new SeededRandom(99));
        var explicitNoise = scheduler.Step(epsilon, 521, sample, eta: 1f, varianceNoise: new SeededRandom(99).StandardNormal(shape));
        var otherSeed = scheduler.Step(epsilon, 521, sample, eta: 1f, generator: new SeededRandom(100));
        var deterministic = scheduler.Step(epsilon, 521, sample, generator: new SeededRandom(99));

        Assert.Equal(shape, first.Shape);
        Assert.Equal(first.AsSpan<float>().ToArray(), second.AsSpan<float>().ToArray());
        Assert.Equal(first.AsSpan<float>().ToArray(), explicitNoise.AsSpan<float>().ToArray());
        Assert.NotEqual(first.AsSpan<float>().ToArray(), otherSeed.AsSpan<float>().ToArray());
        Assert.Equal(scheduler.Step(epsilon, 521, sample).AsSpan<float>().ToArray(), deterministic.AsSpan<float>().ToArray());

        Assert.Throws<ArgumentException>(() => scheduler.Step(epsilon, 521, sample, 1f, new SeededRandom(1), explicitNoise));
        Assert.Throws<ArgumentException>(() => scheduler.Step(epsilon, 521, sample.Reshape(2, 4, 15)));
    }

    [Fact]
    public void Clip_sample_clamps_the_predicted_clean_sample_to_its_range()
    {
        // "sample" prediction: x0 is the model output, clipped to ±0.5; epsilon is derived from the unclipped x0.
        var scheduler = Scheduler("""{"prediction_type": "sample", "clip_sample": true, "clip_sample_range": 0.5}""");
        scheduler.SetTimesteps(10);
        const int T = 500;
        float[] sample = [0.3f, -2f, 1.5f, 0.1f];
        float[] x0 = [0.2f, -0.9f, 3f, 0.5f];
        var actual = new float[4];
        scheduler.Step(x0, T, sample, actual);

        double at = scheduler.AlphasCumprod[T], ap = scheduler.AlphasCumprod[T - 100];
        var expected = new double[4];
        for (var i = 0; i < 4; i++)
        {
            var epsilon = (sample[i] - (Math.Sqrt(at) * x0[i])) / Math.Sqrt(1 - at);
            expected[i] = (Math.Sqrt(ap) * Math.Clamp(x0[i], -0.5, 0.5)) + (Math.Sqrt(1 - ap) * epsilon);
        }

        new Tolerance(1e-5, 1e-5, 1e-11).AssertClose(expected, actual, what: "x_prev with clipping");

        var unclipped = Scheduler("""{"prediction_type": "sample", "clip_sample": false}""");
        unclipped.SetTimesteps(10);
        var free = new float[4];
        unclipped.Step(x0, T, sample, free);
        Assert.Equal(actual[0], free[0]);
        Assert.NotEqual(actual[1], free[1]);
        Assert.NotEqual(actual[2], free[2]);
    }

    [Fact]
    public void Trained_betas_replace_the_schedule()
    {
        var scheduler = Scheduler("""{"num_train_timesteps": 4, "trained_betas": [0.1, 0.2, 0.3, 0.4], "beta_schedule": "squaredcos_cap_v2"}""");
        Assert.Equal([0.1f, 0.2f, 0.3f, 0.4f], scheduler.Betas);
        // alpha = 1 - beta in float32; the products are accumulated in double and rounded once per entry.
        double a0 = 1f - 0.1f, a1 = 1f - 0.2f, a2 = 1f - 0.3f, a3 = 1f - 0.4f;
        Assert.Equal([(float)a0, (float)(a0 * a1), (float)(a0 * a1 * a2), (float)(a0 * a1 * a2 * a3)], scheduler.AlphasCumprod);
        scheduler.SetTimesteps(4);
        Assert.Equal([3, 2, 1, 0], scheduler.Timesteps);
    }
}
