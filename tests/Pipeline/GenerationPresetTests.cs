using CudaI2V.Cli;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Pipeline;

/// <summary><c>--preset</c>: what each chooses, that the user's own settings win, and the demo with a preset.</summary>
public sealed class GenerationPresetTests
{
    private static readonly GenerationOptions Base = new() { Prompt = "a cat", Height = 320, Width = 512, Frames = 8 };

    [Fact]
    public void Release_is_diffusers_defaults_and_each_preset_prints_every_setting()
    {
        Assert.Equal(("ddim", 50, 9.0, 1), (GenerationPreset.Release.Sampler, GenerationPreset.Release.Steps, GenerationPreset.Release.Guidance, GenerationPreset.Release.CacheInterval));
        Assert.Equal((2, 2), (GenerationPreset.Fast.CacheInterval, GenerationPreset.Draft.CacheInterval));
        var defaults = new GenerationOptions { Prompt = "a cat" };
        Assert.Equal((50, 9.0), (defaults.Steps, defaults.Guidance));
        foreach (var preset in GenerationPreset.All)
        {
            var (options, settings) = preset.Apply(Base, new HashSet<PresetSetting>());
            Assert.Equal((preset.Sampler, preset.Steps, preset.Guidance, preset.CacheInterval), (options.Sampler, options.Steps, options.Guidance, options.CacheInterval));
            Assert.Equal((320, 512, 8), (options.Height, options.Width, options.Frames));           // never the size or frames
            Assert.Equal(
                [$"sampler {preset.Sampler} (preset)", $"steps {preset.Steps} (preset)", "guidance 9 (preset)", $"cache interval {preset.CacheInterval} (preset)"], settings);
            options.Validate();
        }
    }

    [Fact]
    public void A_preset_never_overrides_a_setting_the_user_gave()
    {
        var mine = Base with { Sampler = "euler", Steps = 7, Guidance = 4.5, CacheInterval = 1 };
        var all = new HashSet<PresetSetting> { PresetSetting.Sampler, PresetSetting.Steps, PresetSetting.Guidance, PresetSetting.CacheInterval };
        var (options, settings) = GenerationPreset.Fast.Apply(mine, all);
        Assert.Equal(mine, options);
        Assert.Equal(
            ["sampler euler (yours; the preset's is dpmpp-2m)", "steps 7 (yours; the preset's is 25)", "guidance 4.5 (yours; the preset's is 9)", "cache interval 1 (yours; the preset's is 2)"],
            settings);

        (options, settings) = GenerationPreset.Draft.Apply(Base, new HashSet<PresetSetting> { PresetSetting.Guidance }, stepsInstead: 3, stepsWhy: "the demo's");
        Assert.Equal(("unipc", 3, Base.Guidance), (options.Sampler, options.Steps, options.Guidance));
        Assert.Equal("steps 3 (the demo's; the preset's is 10)", settings[1]);
    }

    [Fact]
    public void Demo_with_the_draft_preset_runs_and_says_what_it_chose()
    {
        var dir = Fixtures.TempFolder("preset-demo");
        var (code, _, error) = Run(["generate", "--demo", "--preset", "draft", "--frames", "2", "--out", Path.Combine(dir, "d.gif"), "--cache-dir", Path.Combine(dir, "cache"), "--seed", "3"]);
        Assert.True(code == ExitCodes.Success, error);
        Assert.Contains("preset draft", error, StringComparison.Ordinal);
        Assert.Contains("sampler unipc (preset), steps 3 (the demo's", error, StringComparison.Ordinal);
        Assert.Contains("sampler: class UniPCMultistepScheduler", error, StringComparison.Ordinal);
        Assert.Contains("cache interval 2 (preset)", error, StringComparison.Ordinal);

        // --cache-interval on the command line wins over the preset's.
        (code, _, error) = Run(["generate", "--demo", "--preset", "fast", "--cache-interval", "1", "--steps", "1", "--frames", "2", "--out", Path.Combine(dir, "f.gif"), "--cache-dir", Path.Combine(dir, "cache")]);
        Assert.True(code == ExitCodes.Success, error);
        Assert.Contains("cache interval 1 (yours; the preset's is 2)", error, StringComparison.Ordinal);

        (code, _, error) = Run(["generate", "--demo", "--preset", "turbo"]);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("release", error, StringComparison.Ordinal);
    }
}
