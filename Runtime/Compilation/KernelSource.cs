namespace CudaI2V.Runtime.Compilation;

/// <summary>A header a kernel source may <c>#include "Name"</c>, handed to NVRTC in memory.</summary>
/// <param name="Name">The include name ("Common.cuh").</param>
/// <param name="Code">Its text.</param>
public sealed record KernelHeader(string Name, string Code);

/// <summary>
/// A CUDA C++ translation unit to compile: its file name (NVRTC's messages and the cache name use it), its text and
/// the headers it includes. The Runtime compiles whatever it is handed; the kernels themselves live in CudaI2V.Kernels.
/// </summary>
/// <param name="Name">The file name ("Fill.cu").</param>
/// <param name="Code">The source text.</param>
/// <param name="Headers">Headers available to <c>#include</c>.</param>
public sealed record KernelSource(string Name, string Code, IReadOnlyList<KernelHeader> Headers)
{
    /// <summary>A source with no headers.</summary>
    public KernelSource(string name, string code)
        : this(name, code, [])
    {
    }
}

/// <summary>
/// How to compile a source: preprocessor defines (compile-time constants chosen by a launcher, such as
/// <c>BLOCK_SIZE=256</c>) and extra NVRTC options. Both are part of the cache key.
/// </summary>
public sealed class KernelBuildOptions
{
    /// <summary>No defines, no extra options.</summary>
    public static KernelBuildOptions None { get; } = new(new Dictionary<string, string>(), []);

    /// <summary>Creates the options.</summary>
    public KernelBuildOptions(IReadOnlyDictionary<string, string> defines, IReadOnlyList<string> extraOptions)
    {
        ArgumentNullException.ThrowIfNull(defines);
        ArgumentNullException.ThrowIfNull(extraOptions);
        foreach (var name in defines.Keys)
        {
            if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_') || char.IsAsciiDigit(name[0]))
            {
                throw new ArgumentException($"'{name}' is not a preprocessor name.", nameof(defines));
            }
        }

        Defines = defines;
        ExtraOptions = extraOptions;
    }

    /// <summary>Defines, passed as <c>-DNAME=VALUE</c> in name order.</summary>
    public IReadOnlyDictionary<string, string> Defines { get; }

    /// <summary>Further NVRTC options, in order.</summary>
    public IReadOnlyList<string> ExtraOptions { get; }

    /// <summary>The defines as NVRTC options, sorted by name so the same set always gives the same key.</summary>
    public IEnumerable<string> DefineOptions() =>
        Defines.OrderBy(d => d.Key, StringComparer.Ordinal).Select(d => $"-D{d.Key}={d.Value}");
}
