using System.Text.RegularExpressions;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Architecture;

/// <summary>
/// Rules over the source tree that keep it readable: the engine and the CLI never look behind <c>IOps</c> at a concrete
/// backend (memory is a capability every backend implements), no hand-written file grows past 400 lines, and the code
/// cites the repository's own docs, never the notes outside it.
/// </summary>
public sealed partial class SourceRulesTests
{
    private const int MaxLines = 400;

    private static readonly string[] Backends = ["CudaOps", "CpuOps", "PlanningOps"];

    /// <summary>Project folders with hand-written sources (generated tables end in .g.cs and are exempt).</summary>
    private static readonly string[] SourceFolders = ["native", "Runtime", "Kernels", "Layers", "Loader", "Pipeline", "Cli", "Server", "tests"];

    [Fact]
    public void Pipeline_and_the_cli_never_test_or_cast_a_backend_to_its_concrete_type()
    {
        var offences = new List<string>();
        foreach (var file in SourceFiles(["Pipeline", "Cli", "Server"], "*.cs"))
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                var code = CodeOf(lines[i]);
                foreach (var backend in Backends)
                {
                    if (TypeTest(backend).IsMatch(code))
                    {
                        offences.Add($"{Relative(file)}:{i + 1}: {lines[i].Trim()}");
                    }
                }
            }
        }

        Assert.True(offences.Count == 0, "Type tests or casts to a concrete backend (use IOps and its Memory instead):\n" + string.Join('\n', offences));
    }

    [Fact]
    public void The_memory_capability_is_written_against_no_device_backend()
    {
        // Kernels/Memory is what every backend implements and the engine uses: it may record through the planning
        // backend, but it never names the CPU or CUDA backend or the CUDA runtime, or the engine would run two paths.
        string[] deviceNamespaces = ["CudaI2V.Kernels.Cuda", "CudaI2V.Kernels.Cpu", "CudaI2V.Runtime.Cuda"];
        var offences = SourceFiles(["Kernels/Memory"], "*.cs").Append(Path.Combine(RepoPaths.Root, "Kernels", "IOps.cs"))
            .SelectMany(f => File.ReadAllLines(f).Select((line, i) => (File: f, Line: i + 1, Code: CodeOf(line))))
            .Where(l => deviceNamespaces.Any(n => l.Code.Contains(n, StringComparison.Ordinal)) || Backends.Take(2).Any(b => Regex.IsMatch(l.Code, $@"\b{b}\b")))
            .Select(l => $"{Relative(l.File)}:{l.Line}: {l.Code.Trim()}")
            .ToList();
        Assert.True(offences.Count == 0, "The memory capability names a device backend (keep it in that backend's folder):\n" + string.Join('\n', offences));
    }

    [Fact]
    public void No_hand_written_source_file_is_over_400_lines()
    {
        var long_ = SourceFiles(SourceFolders, "*.cs").Concat(SourceFiles(["Kernels"], "*.cu")).Concat(SourceFiles(["Kernels"], "*.cuh"))
            .Where(f => !f.EndsWith(".g.cs", StringComparison.Ordinal))
            .Select(f => (File: f, Lines: File.ReadAllLines(f).Length))
            .Where(f => f.Lines > MaxLines)
            .Select(f => $"{Relative(f.File)}: {f.Lines} lines")
            .ToList();
        Assert.True(long_.Count == 0, $"Files over {MaxLines} lines (split them by responsibility):\n" + string.Join('\n', long_));
    }

    [Fact]
    public void No_source_cites_notes_outside_the_repository()
    {
        var citing = SourceFiles(SourceFolders, "*.cs").Concat(SourceFiles(["Kernels"], "*.cu")).Concat(SourceFiles(["Kernels"], "*.cuh"))
            .Concat(Directory.GetFiles(Path.Combine(RepoPaths.Root, "scripts"), "*.sh"))
            .Where(f => !f.EndsWith(nameof(SourceRulesTests) + ".cs", StringComparison.Ordinal))
            .SelectMany(f => File.ReadAllLines(f).Select((line, i) => (File: f, Line: i + 1, Text: line)))
            .Where(l => l.Text.Contains("../shared", StringComparison.Ordinal) || l.Text.Contains("shared/docs", StringComparison.Ordinal) || l.Text.Contains("shared/fixtures", StringComparison.Ordinal))
            .Select(l => $"{Relative(l.File)}:{l.Line}: {l.Text.Trim()}")
            .ToList();
        Assert.True(citing.Count == 0, "Sources citing ../shared (a clone has none; cite docs/ or tests/fixtures/):\n" + string.Join('\n', citing));
    }

    /// <summary>`x is CudaOps`, `as CudaOps`, `(CudaOps)x`, `OfType&lt;CudaOps&gt;`, `case CudaOps`, qualified or not.</summary>
    private static Regex TypeTest(string type) => new(
        $@"(\bis\s+(not\s+)?([\w.]+\.)?{type}\b)|(\bas\s+([\w.]+\.)?{type}\b)|(\(\s*([\w.]+\.)?{type}\s*\)\s*[\w(@_])|(OfType<\s*([\w.]+\.)?{type}\s*>)|(\bcase\s+([\w.]+\.)?{type}\b)",
        RegexOptions.CultureInvariant);

    /// <summary>The line without a trailing // comment and without string literals' contents (approximately).</summary>
    private static string CodeOf(string line)
    {
        var code = StringLiteral().Replace(line, "\"\"");
        var comment = code.IndexOf("//", StringComparison.Ordinal);
        return comment < 0 ? code : code[..comment];
    }

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"")]
    private static partial Regex StringLiteral();

    private static IEnumerable<string> SourceFiles(IEnumerable<string> folders, string pattern) =>
        folders.Select(f => Path.Combine(RepoPaths.Root, f))
            .Where(Directory.Exists)
            .SelectMany(f => Directory.GetFiles(f, pattern, SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}fixtures{Path.DirectorySeparatorChar}", StringComparison.Ordinal));

    private static string Relative(string file) => Path.GetRelativePath(RepoPaths.Root, file);
}
