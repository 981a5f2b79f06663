using System.Xml.Linq;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Architecture;

/// <summary>Enforces the table of allowed project references in docs/architecture.md.</summary>
public sealed class ProjectReferenceTests
{
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["CudaI2V.Native"] = [],
        ["CudaI2V.Runtime"] = ["CudaI2V.Native"],
        ["CudaI2V.Kernels"] = ["CudaI2V.Runtime"],
        ["CudaI2V.Loader"] = ["CudaI2V.Runtime"],
        ["CudaI2V.Layers"] = ["CudaI2V.Kernels", "CudaI2V.Loader", "CudaI2V.Runtime"],
        ["CudaI2V.Pipeline"] = ["CudaI2V.Layers", "CudaI2V.Kernels", "CudaI2V.Loader", "CudaI2V.Runtime"],
        ["CudaI2V.Server"] = ["CudaI2V.Pipeline", "CudaI2V.Layers", "CudaI2V.Kernels", "CudaI2V.Loader", "CudaI2V.Runtime"],
        ["CudaI2V.Cli"] = ["CudaI2V.Server", "CudaI2V.Pipeline", "CudaI2V.Layers", "CudaI2V.Kernels", "CudaI2V.Loader", "CudaI2V.Runtime", "CudaI2V.Native"],
        ["CudaI2V.Tests"] = ["CudaI2V.Cli", "CudaI2V.Server", "CudaI2V.Pipeline", "CudaI2V.Layers", "CudaI2V.Kernels", "CudaI2V.Loader", "CudaI2V.Runtime", "CudaI2V.Native"],
    };

    private static readonly Dictionary<string, string> Folders = new()
    {
        ["CudaI2V.Native"] = "native",
        ["CudaI2V.Runtime"] = "Runtime",
        ["CudaI2V.Kernels"] = "Kernels",
        ["CudaI2V.Loader"] = "Loader",
        ["CudaI2V.Layers"] = "Layers",
        ["CudaI2V.Pipeline"] = "Pipeline",
        ["CudaI2V.Server"] = "Server",
        ["CudaI2V.Cli"] = "Cli",
        ["CudaI2V.Tests"] = "tests",
    };

    public static TheoryData<string> Projects() => [.. Allowed.Keys];

    [Theory]
    [MemberData(nameof(Projects))]
    public void Project_references_only_what_the_architecture_allows(string project)
    {
        var references = ReferencesOf(project);
        var forbidden = references.Except(Allowed[project]).ToList();
        Assert.True(forbidden.Count == 0, $"{project} references {string.Join(", ", forbidden)}, which docs/architecture.md does not allow.");
    }

    [Fact]
    public void Every_project_in_the_solution_is_in_the_table_and_in_its_layer_folder()
    {
        var solution = File.ReadAllText(Path.Combine(RepoPaths.Root, "CudaI2V.sln"));
        var csprojs = Directory.GetFiles(RepoPaths.Root, "*.csproj", SearchOption.AllDirectories)
            .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !p.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !p.Contains($"{Path.DirectorySeparatorChar}dev{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToList();
        foreach (var path in csprojs)
        {
            var name = Path.GetFileNameWithoutExtension(path);
            Assert.True(Allowed.ContainsKey(name), $"{path} is not in the architecture table.");
            var folder = Path.GetRelativePath(RepoPaths.Root, Path.GetDirectoryName(path)!);
            Assert.Equal(Folders[name], folder);
            Assert.Contains($"{Folders[name]}\\{name}.csproj", solution, StringComparison.Ordinal);
        }

        Assert.Equal(Allowed.Count, csprojs.Count);
    }

    [Fact]
    public void Solution_is_in_the_classic_format()
    {
        Assert.True(File.Exists(Path.Combine(RepoPaths.Root, "CudaI2V.sln")));
        Assert.False(File.Exists(Path.Combine(RepoPaths.Root, "CudaI2V.slnx")));
    }

    private static List<string> ReferencesOf(string project)
    {
        var path = Path.Combine(RepoPaths.Root, Folders[project], project + ".csproj");
        var document = XDocument.Load(path);
        return document.Descendants("ProjectReference")
            .Select(e => Path.GetFileNameWithoutExtension(e.Attribute("Include")!.Value.Replace('\\', Path.DirectorySeparatorChar)))
            .ToList();
    }
}
