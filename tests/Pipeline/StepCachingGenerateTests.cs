using CudaI2V.Cli;
using CudaI2V.Loader;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Runtime.Caching;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Pipeline;

/// <summary>Step caching in whole requests on the tiny pipeline (CPU): N = 1 is the uncached video, N = 2 caches every other step and says so.</summary>
public sealed class StepCachingGenerateTests
{
    private readonly string _dir = Fixtures.TempFolder("step-caching");

    [Fact]
    public void Interval_one_is_the_uncached_video_bit_for_bit_and_two_caches_every_other_step()
    {
        using var engine = VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(Path.Combine(_dir, "cache"))));
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        var options = new GenerationOptions { Prompt = "a cat", Frames = 2, Steps = 3, Height = 24, Width = 32, Seed = 5 };
        var token = TestContext.Current.CancellationToken;

        var plain = engine.Generate(image, options, cancellation: token);
        var one = engine.Generate(image, options with { CacheInterval = 1 }, cancellation: token);
        Assert.True(plain.Video.ToFloat32Array().AsSpan().SequenceEqual(one.Video.ToFloat32Array()), "N = 1 must be the uncached video bit for bit");
        Assert.Equal([0, 1, 2], plain.FullSteps);
        Assert.Null(plain.Memory!.Request.Step.Cached);

        var progress = new Reports();
        var two = engine.Generate(image, options with { CacheInterval = 2 }, progress, cancellation: token);
        Assert.Equal([0, 2], two.FullSteps);
        Assert.Equal(3, two.DenoisingSteps);
        Assert.Equal([true, false, true], progress.Steps);
        Assert.All(two.Video.ToFloat32Array(), v => Assert.True(float.IsFinite(v)));

        // The memory plan holds the larger of the two kinds' arenas (they share one block) and the deep-feature cache: with guidance,
        // 2 videos x 2 frames of the last up block's input (the 64 channels of the block before it) at the full 12x16
        // latent size (the tiny VAE scales by 2), in F32 on the CPU.
        var step = two.Memory!.Request.Step;
        Assert.NotNull(step.Cached);
        Assert.Equal(2 * 2 * 12 * 16 * 64 * sizeof(float), step.DeepFeatureBytes);
        var plainArena = plain.Memory.Request.Step.Arena.Peak;
        Assert.Equal(plain.Memory.DenoiseBytes - plainArena + Math.Max(step.Arena.Peak, step.Cached.Arena.Peak) + step.DeepFeatureBytes, two.Memory.DenoiseBytes);
        Assert.True(step.Cached.Flops < step.Flops);

        var error = Assert.Throws<ArgumentException>(() => engine.Generate(image, options with { CacheInterval = 2, CacheDepth = 3 }, cancellation: token));
        Assert.Contains("cache-depth", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_command_line_refuses_bad_cache_settings_by_name()
    {
        string[] Demo(params string[] more) => ["generate", "--demo", "--out", Path.Combine(_dir, "x.gif"), "--cache-dir", Path.Combine(_dir, "cache"), .. more];
        var (code, _, error) = Run(Demo("--cache-interval", "0"));
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("cache-interval", error, StringComparison.Ordinal);

        (code, _, error) = Run(Demo("--cache-interval", "2", "--cache-depth", "3"));
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--cache-depth must be 0 to 2", error, StringComparison.Ordinal);
    }

    /// <summary>Whether each finished denoising step was full, as the progress reports said (reported synchronously).</summary>
    private sealed class Reports : IProgress<GenerationProgress>
    {
        public List<bool> Steps { get; } = [];

        public void Report(GenerationProgress value)
        {
            if (value.FullStep is { } full)
            {
                Assert.Equal(GenerationStage.Denoising, value.Stage);
                Steps.Add(full);
            }
        }
    }
}
