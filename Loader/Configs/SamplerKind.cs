namespace CudaI2V.Loader.Configs;

/// <summary>The samplers (diffusers scheduler classes) CudaI2V runs.</summary>
public enum SamplerKind
{
    /// <summary>DDIMScheduler ("ddim"), the release's scheduler.</summary>
    Ddim,

    /// <summary>DPMSolverMultistepScheduler with DPM-Solver++ ("dpmpp-2m").</summary>
    DpmSolverMultistep,

    /// <summary>UniPCMultistepScheduler with the B(h) = e^h - 1 variant and its corrector ("unipc").</summary>
    UniPcMultistep,

    /// <summary>EulerDiscreteScheduler ("euler"): it scales the model input.</summary>
    EulerDiscrete,
}

/// <summary>The names a <see cref="SamplerKind"/> goes by: diffusers' class name and the <c>--sampler</c> option's word.</summary>
public static class SamplerKinds
{
    /// <summary>Every kind, in the order the option lists them.</summary>
    public static IReadOnlyList<SamplerKind> All { get; } =
        [SamplerKind.Ddim, SamplerKind.DpmSolverMultistep, SamplerKind.UniPcMultistep, SamplerKind.EulerDiscrete];

    /// <summary>diffusers' class name (a scheduler_config.json's <c>_class_name</c>).</summary>
    public static string ClassName(this SamplerKind kind) => kind switch
    {
        SamplerKind.Ddim => "DDIMScheduler",
        SamplerKind.DpmSolverMultistep => "DPMSolverMultistepScheduler",
        SamplerKind.UniPcMultistep => "UniPCMultistepScheduler",
        SamplerKind.EulerDiscrete => "EulerDiscreteScheduler",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a sampler kind."),
    };

    /// <summary>The <c>--sampler</c> word: ddim, dpmpp-2m, unipc or euler.</summary>
    public static string OptionName(this SamplerKind kind) => kind switch
    {
        SamplerKind.Ddim => "ddim",
        SamplerKind.DpmSolverMultistep => "dpmpp-2m",
        SamplerKind.UniPcMultistep => "unipc",
        SamplerKind.EulerDiscrete => "euler",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a sampler kind."),
    };

    /// <summary>The kind a class name selects, or null when CudaI2V has no sampler of that class.</summary>
    public static SamplerKind? FromClassName(string? className) =>
        All.Cast<SamplerKind?>().FirstOrDefault(k => k!.Value.ClassName() == className);

    /// <summary>The kind an option word selects (ddim, dpmpp-2m, unipc, euler), or null.</summary>
    public static SamplerKind? FromOptionName(string? name) =>
        All.Cast<SamplerKind?>().FirstOrDefault(k => k!.Value.OptionName() == name);
}
