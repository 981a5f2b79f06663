using System.Text.Json;
using CudaI2V.Cli;
using CudaI2V.Loader;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Pipeline.Scheduling;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Pipeline;

/// <summary>Low-resolution refine: the schedule's tail of every sampler, whole requests on the tiny pipeline, and the refusals.</summary>
public sealed class RefineTests
{
    private readonly string _dir = Fixtures.TempFolder("refine");

    [Theory]
    [InlineData("ddim")]
    [InlineData("dpmpp-2m")]
    [InlineData("unipc")]
    [InlineData("euler")]
    public void The_tail_starts_fresh_at_diffusers_t_start(string name)
    {
        var config = Path.Combine(Fixtures.PipelineTiny, "scheduler", "scheduler_config.json");
        var full = Samplers.Create(name, config);
        full.SetTimesteps(10);
        var tail = Samplers.Create(name, config);
        tail.SetTimesteps(10);
        var begin = 10 - RefineSize.TailSteps(10, 0.6);                                                 // diffusers: t_start = steps - int(steps * strength)
        Assert.Equal(4, begin);
        tail.BeginAt(begin);
        Assert.Equal(full.Timesteps.Skip(begin), tail.Timesteps);
        var (a, b) = tail.NoiseWeights();
        Assert.True(a > 0 && b > 0 && float.IsFinite(a) && float.IsFinite(b));
        switch (tail)
        {
            case MultistepSampler multistep when name == "euler":
                Assert.Equal((1f, multistep.Sigmas[0]), (a, b));
                break;
            case MultistepSampler multistep:
                Assert.Equal(1, multistep.Steps[0].Order);                                              // no history yet: first order
                Assert.Null(multistep.Steps[0].Combination.Correction);                                 // UniPC: no corrector on the first step
                Assert.Equal(2, multistep.Steps[1].Order);
                if (name == "dpmpp-2m")
                {
                    Assert.Equal(((MultistepSampler)full).Steps[begin + 1].Combination, multistep.Steps[1].Combination);   // from then on the schedule's own steps
                }

                break;
            case DdimSampler ddim:
                var alphaProd = ddim.Scheduler.AlphasCumprod[(int)tail.Timesteps[0]];
                Assert.Equal((MathF.Sqrt(alphaProd), MathF.Sqrt(1 - alphaProd)), (a, b));
                break;
        }
    }

    [Fact]
    public void Refine_runs_every_sampler_end_to_end_at_the_planned_larger_size_and_repeats_for_a_seed()
    {
        using var engine = VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(Path.Combine(_dir, "cache"))));
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        var token = TestContext.Current.CancellationToken;
        foreach (var name in Samplers.Names)
        {
            var options = new GenerationOptions
            {
                Prompt = "a cat",
                Frames = 2,
                Steps = 2,
                Height = 32,
                Width = 48,
                Seed = 9,
                Sampler = name,
                RefineFrom = new RefineSize(24, 16),
                RefineStrength = 0.5,
            };
            var observer = new Timesteps();
            var result = engine.Generate(image, options, observer: observer, cancellation: token);
            Assert.Equal(new TensorShape(2, 32, 48, 3), result.Video.Shape);
            Assert.All(result.Video.ToFloat32Array(), v => Assert.True(float.IsFinite(v), name));
            Assert.Equal((3, 1), (result.DenoisingSteps, result.RefineSteps));
            Assert.Equal([0, 1, 2], result.FullSteps);

            // Both steps at the low size, then the schedule's last step again; the plan is the requested (larger) size's.
            var schedule = engine.CreateSampler(name, 2).Timesteps;
            Assert.Equal([.. schedule, schedule[1]], observer.Seen);
            Assert.Equal(new TensorShape(2 * 2, 16, 24, 4), result.Memory!.Request.Step.Sample);   // the tiny VAE scales by 2

            if (name == "ddim")
            {
                var again = engine.Generate(image, options, cancellation: token);
                Assert.True(result.Video.ToFloat32Array().AsSpan().SequenceEqual(again.Video.ToFloat32Array()), "the same seed gives the same video");
                var cached = engine.Generate(image, options with { CacheInterval = 2 }, cancellation: token);
                Assert.Equal([0, 2], cached.FullSteps);                                                  // each pass starts with a full step
            }
        }
    }

    [Fact]
    public void The_demo_refines_end_to_end_and_bad_sizes_and_strengths_are_refused_by_name()
    {
        var outPath = Path.Combine(_dir, "r.gif");
        string[] Demo(params string[] more) => ["generate", "--demo", "--frames", "2", "--steps", "2", "--out", outPath, "--cache-dir", Path.Combine(_dir, "cache"), .. more];
        var (code, _, error) = Run(Demo("--refine-from", "24x16", "--seed", "4"));
        Assert.True(code == ExitCodes.Success, error);
        Assert.Contains("refine: 2 steps at 24x16, then the last 1 at 56x40", error, StringComparison.Ordinal);
        using (var json = JsonDocument.Parse(File.ReadAllBytes(Path.ChangeExtension(outPath, ".json"))))
        {
            Assert.Equal(24, json.RootElement.GetProperty("refine_from").GetProperty("width").GetInt32());
            Assert.Equal(1, json.RootElement.GetProperty("denoising").GetProperty("refine_steps").GetInt32());
        }

        foreach (var (args, option) in new (string[], string)[]
        {
            (["--refine-from", "20x16"], "refine-from 20x16: each side must be a multiple of 8"),
            (["--refine-from", "64x48"], "refine-from 64x48: it must be smaller"),
            (["--refine-from", "56x40"], "refine-from 56x40: it must be smaller"),
            (["--refine-from", "40x16"], "refine-from 40x16: it must have the requested 56x40's aspect ratio"),
            (["--refine-from", "big"], "--refine-from must be WIDTHxHEIGHT"),
            (["--refine-from", "24x16", "--refine-strength", "0"], "refine-strength must be above 0"),
            (["--refine-from", "24x16", "--refine-strength", "1.5"], "refine-strength must be above 0"),
            (["--refine-from", "24x16", "--refine-strength", "0.25"], "refine-strength 0.25 leaves no step"),
            (["--refine-strength", "0.5"], "--refine-strength applies only with --refine-from"),
        })
        {
            (code, _, error) = Run(Demo(args));
            Assert.True(code == ExitCodes.Usage, $"{string.Join(' ', args)}: {error}");
            Assert.Contains(option, error, StringComparison.Ordinal);
        }
    }

    /// <summary>The timestep of every UNet step, in order.</summary>
    private sealed class Timesteps : IGenerationObserver
    {
        public List<float> Seen { get; } = [];

        public void Tensor(string name, Tensor value)
        {
        }

        public void UNetStep(int stepIndex, float timestep, Tensor input, Tensor output)
        {
            Assert.Equal(Seen.Count, stepIndex);
            Seen.Add(timestep);
        }
    }
}
