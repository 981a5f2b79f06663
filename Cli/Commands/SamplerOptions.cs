using CudaI2V.Loader;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.Scheduling;

namespace CudaI2V.Cli.Commands;

/// <summary><c>generate</c>'s <c>--sampler</c> and <c>--preset</c>: reading them, applying a preset, and checking the sampler before loading.</summary>
internal static class SamplerOptions
{
    /// <summary>The help of the two options.</summary>
    public static IReadOnlyList<OptionSpec> Specs { get; } =
    [
        new OptionSpec(
            "sampler", string.Join('|', Samplers.Names),
            "The sampler, reading the folder's scheduler/scheduler_config.json as that diffusers class would (docs/samplers.md).",
            Default: "the class the config names (DDIM in the release)"),
        new OptionSpec(
            "preset", string.Join('|', GenerationPreset.Names),
            "Sampler, steps, guidance and step caching together: release (DDIM, 50, 9, no caching), fast (dpmpp-2m, 25, 9, cache interval 2), draft (unipc, 10, 9, cache interval 2); "
            + "every one of these you give yourself wins, and the size and frames are never changed. Prints what it chose.",
            Default: "none"),
    ];

    /// <summary>The <c>--sampler</c> word, or null for the folder's class.</summary>
    public static string? Sampler(ParsedArgs args) => args.Has("sampler") ? args.Choice("sampler", "ddim", [.. Samplers.Names]) : null;

    /// <summary>
    /// Applies <c>--preset</c> (when given) to <paramref name="options"/>, printing each setting it chose to
    /// <paramref name="log"/>; with <paramref name="demoSteps"/>, the demo's step count stands in for the preset's.
    /// </summary>
    public static GenerationOptions ApplyPreset(ParsedArgs args, GenerationOptions options, int? demoSteps, TextWriter log)
    {
        if (!args.Has("preset"))
        {
            return options;
        }

        var preset = GenerationPreset.Find(args.Choice("preset", GenerationPreset.Release.Name, [.. GenerationPreset.Names]))!;
        var given = new HashSet<PresetSetting>();
        if (args.Has("sampler"))
        {
            given.Add(PresetSetting.Sampler);
        }

        if (args.Has("steps"))
        {
            given.Add(PresetSetting.Steps);
        }

        if (args.Has("guidance"))
        {
            given.Add(PresetSetting.Guidance);
        }

        if (args.Has("cache-interval"))
        {
            given.Add(PresetSetting.CacheInterval);
        }

        var (chosen, settings) = preset.Apply(options, given, demoSteps, "the demo's, on its tiny random model");
        log.WriteLine($"cudai2v generate: preset {preset.Name} ({preset.Summary}): {string.Join(", ", settings)}.");
        return chosen;
    }

    /// <summary>
    /// Builds the request's sampler from the folder's config before anything loads: a config it cannot run is a model
    /// error (exit 3, from <see cref="ModelFileException"/>), a schedule that cannot run at this step count a usage error.
    /// </summary>
    public static void Check(ModelDirectory model, GenerationOptions options)
    {
        try
        {
            Samplers.Create(options.Sampler, model.SchedulerConfigPath).SetTimesteps(options.Steps);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new UsageException($"--steps {options.Steps}: {e.Message.Split('\n')[0].Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal)}");
        }
    }
}
