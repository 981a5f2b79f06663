using System.Collections.Concurrent;
using System.Globalization;
using CudaI2V.Runtime.Compilation;

namespace CudaI2V.Kernels.Cuda;

/// <summary>
/// The CUDA sources of this assembly (<c>Kernels/Cuda/*.cu</c> and the shared <c>Common.cuh</c>, embedded as
/// resources). Each <c>.cu</c> file declares the architectures it is written for on one line,
/// <c>// cudai2v-archs: sm_80 sm_89 sm_90</c>: CI compiles it for each of them that its NVRTC supports, and at run
/// time it is used on a device of the lowest declared architecture or newer.
/// </summary>
public static class CudaSources
{
    /// <summary>The shared prelude's file name.</summary>
    public const string PreludeName = "Common.cuh";

    /// <summary>The marker of the architectures line.</summary>
    public const string ArchitecturesMarker = "// cudai2v-archs:";

    private const string ResourcePrefix = "cuda/";

    private static readonly ConcurrentDictionary<string, KernelSource> Sources = new(StringComparer.Ordinal);

    /// <summary>The file names of every embedded <c>.cu</c> source, sorted.</summary>
    public static IReadOnlyList<string> Files { get; } = typeof(CudaSources).Assembly.GetManifestResourceNames()
        .Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal) && n.EndsWith(".cu", StringComparison.Ordinal))
        .Select(n => n[ResourcePrefix.Length..])
        .Order(StringComparer.Ordinal)
        .ToList();

    /// <summary>The raw text of an embedded file (a <c>.cu</c> or <c>Common.cuh</c>).</summary>
    public static string Text(string fileName)
    {
        ArgumentException.ThrowIfNullOrEmpty(fileName);
        using var stream = typeof(CudaSources).Assembly.GetManifestResourceStream(ResourcePrefix + fileName)
            ?? throw new ArgumentException($"No embedded CUDA source '{fileName}'. Sources: {string.Join(", ", Files)}.", nameof(fileName));
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>A <c>.cu</c> source with the prelude available to its <c>#include</c>, ready for the kernel compiler.</summary>
    public static KernelSource Load(string fileName) =>
        Sources.GetOrAdd(fileName, f => new KernelSource(f, Text(f), [new KernelHeader(PreludeName, Text(PreludeName))]));

    /// <summary>The architectures a source declares (80, 89, 90), from its <c>// cudai2v-archs:</c> line.</summary>
    public static IReadOnlyList<int> DeclaredArchitectures(string fileName) => ParseArchitectures(fileName, Text(fileName));

    /// <summary>Parses the architectures line of <paramref name="code"/>; throws naming the file when it is missing or malformed.</summary>
    public static IReadOnlyList<int> ParseArchitectures(string fileName, string code)
    {
        ArgumentNullException.ThrowIfNull(code);
        var line = code.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith(ArchitecturesMarker, StringComparison.Ordinal))
            ?? throw new FormatException($"{fileName} has no '{ArchitecturesMarker} sm_80 ...' line declaring its target architectures.");
        var architectures = new List<int>();
        foreach (var word in line[ArchitecturesMarker.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!word.StartsWith("sm_", StringComparison.Ordinal)
                || !int.TryParse(word[3..], NumberStyles.None, CultureInfo.InvariantCulture, out var architecture))
            {
                throw new FormatException($"{fileName}: '{word}' in its architectures line is not of the form sm_XX.");
            }

            architectures.Add(architecture);
        }

        return architectures.Count > 0
            ? architectures
            : throw new FormatException($"{fileName}'s architectures line names no architecture.");
    }
}
