using CudaI2V.Loader;
using CudaI2V.Loader.Configs;

namespace CudaI2V.Pipeline.Scheduling;

/// <summary>
/// Chooses and builds a <see cref="Sampler"/>: by the <c>--sampler</c> word when one is given, else by the config's
/// <c>_class_name</c> (DDIMScheduler when it names none). An explicit choice reads the folder's config as diffusers'
/// <c>from_config</c> does: the keys that sampler knows are taken, every other key is ignored.
/// </summary>
public static class Samplers
{
    /// <summary>The <c>--sampler</c> words: ddim, dpmpp-2m, unipc, euler.</summary>
    public static IReadOnlyList<string> Names { get; } = SamplerKinds.All.Select(k => k.OptionName()).ToArray();

    /// <summary>Builds the sampler <paramref name="name"/> selects, or the one <paramref name="configPath"/>'s <c>_class_name</c> names.</summary>
    /// <param name="name">ddim, dpmpp-2m, unipc or euler; null to follow the config's class.</param>
    /// <param name="configPath">A <c>scheduler_config.json</c>.</param>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not a sampler word.</exception>
    /// <exception cref="ModelFileException">The file cannot be read, names a class CudaI2V has no sampler for, or asks for a setting CudaI2V does not run.</exception>
    public static Sampler Create(string? name, string configPath)
    {
        ArgumentNullException.ThrowIfNull(configPath);
        var kind = name is null ? Declared(configPath) : SamplerKinds.FromOptionName(name)
            ?? throw new ArgumentException($"Unknown sampler '{name}'; CudaI2V has {string.Join(", ", Names)}.", nameof(name));
        return Create(kind, configPath);
    }

    /// <summary>Builds the <paramref name="kind"/> sampler from <paramref name="configPath"/> (from_config: unknown keys ignored).</summary>
    public static Sampler Create(SamplerKind kind, string configPath) => kind switch
    {
        SamplerKind.Ddim => new DdimSampler(SchedulerConfig.Load(configPath)),
        SamplerKind.DpmSolverMultistep => new DpmSolverSampler(SamplerConfig.Load(configPath, kind)),
        SamplerKind.UniPcMultistep => new UniPcSampler(SamplerConfig.Load(configPath, kind)),
        SamplerKind.EulerDiscrete => new EulerSampler(SamplerConfig.Load(configPath, kind)),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a sampler kind."),
    };

    /// <summary>The kind a config's <c>_class_name</c> selects (DDIM when it names none).</summary>
    /// <exception cref="ModelFileException">It names a class CudaI2V has no sampler for.</exception>
    public static SamplerKind Declared(string configPath)
    {
        var className = SamplerConfig.DeclaredClass(configPath);
        if (className is null)
        {
            return SamplerKind.Ddim;
        }

        return SamplerKinds.FromClassName(className) ?? throw new ModelFileException(
            $"{configPath}: '_class_name' is \"{className}\"; CudaI2V runs {string.Join(", ", SamplerKinds.All.Select(k => k.ClassName()))} "
            + $"(choose one with --sampler {string.Join('|', Names)}, which reads this file's settings as that class would).",
            configPath,
            "_class_name");
    }
}
