using System.Globalization;

namespace CudaI2V.Pipeline.Engine;

/// <summary>The settings a <see cref="GenerationPreset"/> chooses (a user's own value of each always wins).</summary>
public enum PresetSetting
{
    /// <summary><see cref="GenerationOptions.Sampler"/>.</summary>
    Sampler,

    /// <summary><see cref="GenerationOptions.Steps"/>.</summary>
    Steps,

    /// <summary><see cref="GenerationOptions.Guidance"/>.</summary>
    Guidance,

    /// <summary><see cref="GenerationOptions.CacheInterval"/>.</summary>
    CacheInterval,
}

/// <summary>
/// A named choice of the sampler, the step count, the guidance scale and step caching (<c>--preset</c>): <c>release</c> is diffusers'
/// I2VGen-XL defaults, <c>fast</c> and <c>draft</c> make fewer UNet calls with a multistep sampler. A preset never sets
/// the size or the frame count, and never replaces a setting the user gave. What the fewer steps cost in quality is not
/// measured (no release weights here): see the README's table.
/// </summary>
/// <param name="Name">release, fast or draft.</param>
/// <param name="Sampler">The sampler word (<see cref="Scheduling.Samplers.Names"/>).</param>
/// <param name="Steps">Denoising steps (UNet calls).</param>
/// <param name="Guidance">Classifier-free guidance scale.</param>
/// <param name="Summary">What the preset is for, in a few words.</param>
/// <param name="CacheInterval">Step caching's N (1: none); see docs/step-caching.md.</param>
public sealed record GenerationPreset(string Name, string Sampler, int Steps, double Guidance, string Summary, int CacheInterval = 1)
{
    /// <summary>diffusers' defaults: DDIM, 50 steps, guidance 9, no step caching (the release's quality reference).</summary>
    public static GenerationPreset Release { get; } = new("release", "ddim", 50, 9.0, "diffusers' defaults");

    /// <summary>
    /// DPM-Solver++ 2M at 25 steps, step caching N = 2: half the UNet calls of release (the solver's paper reports
    /// DDIM-50-like quality at 15-25 steps on images), and every other call only the shallow branch (DeepCache reports
    /// little loss at N = 2 on image UNets; neither is measured on this model).
    /// </summary>
    public static GenerationPreset Fast { get; } = new("fast", "dpmpp-2m", 25, 9.0, "half the UNet calls, every other one cached", CacheInterval: 2);

    /// <summary>UniPC at 10 steps with step caching N = 2: a fifth of the UNet calls, half of them cached, for previews.</summary>
    public static GenerationPreset Draft { get; } = new("draft", "unipc", 10, 9.0, "a fifth of the UNet calls, half of them cached, for previews", CacheInterval: 2);

    /// <summary>Every preset, the default first.</summary>
    public static IReadOnlyList<GenerationPreset> All { get; } = [Release, Fast, Draft];

    /// <summary>The preset names: release, fast, draft.</summary>
    public static IReadOnlyList<string> Names { get; } = All.Select(p => p.Name).ToArray();

    /// <summary>The preset called <paramref name="name"/>, or null.</summary>
    public static GenerationPreset? Find(string? name) => All.FirstOrDefault(p => p.Name == name);

    /// <summary>
    /// <paramref name="options"/> with every setting of this preset the user did not give (<paramref name="given"/>), and
    /// one line per setting saying its value and where it came from. <paramref name="stepsInstead"/> replaces the
    /// preset's step count (the demo's few steps on its tiny model), named by <paramref name="stepsWhy"/>.
    /// </summary>
    public (GenerationOptions Options, IReadOnlyList<string> Settings) Apply(
        GenerationOptions options, IReadOnlySet<PresetSetting> given, int? stepsInstead = null, string? stepsWhy = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(given);
        var lines = new List<string>
        {
            Line(PresetSetting.Sampler, "sampler", options.Sampler ?? "the folder's", Sampler),
            given.Contains(PresetSetting.Steps) ? $"steps {options.Steps} (yours; the preset's is {Steps})"
                : stepsInstead is { } instead ? $"steps {instead} ({stepsWhy}; the preset's is {Steps})" : $"steps {Steps} (preset)",
            Line(PresetSetting.Guidance, "guidance", Format(options.Guidance), Format(Guidance)),
            Line(PresetSetting.CacheInterval, "cache interval", Format(options.CacheInterval), Format(CacheInterval)),
        };
        return (options with
        {
            Sampler = given.Contains(PresetSetting.Sampler) ? options.Sampler : Sampler,
            Steps = given.Contains(PresetSetting.Steps) ? options.Steps : stepsInstead ?? Steps,
            Guidance = given.Contains(PresetSetting.Guidance) ? options.Guidance : Guidance,
            CacheInterval = given.Contains(PresetSetting.CacheInterval) ? options.CacheInterval : CacheInterval,
        }, lines);

        string Line(PresetSetting setting, string name, string yours, string preset) =>
            given.Contains(setting) ? $"{name} {yours} (yours; the preset's is {preset})" : $"{name} {preset} (preset)";
    }

    private static string Format(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
}
