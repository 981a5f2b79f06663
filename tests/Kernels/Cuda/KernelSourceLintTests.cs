using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using CudaI2V.Kernels.Cuda;

namespace CudaI2V.Tests.Kernels.Cuda;

/// <summary>
/// Guards the CUDA sources without a GPU: every extern "C" entry point is used by the launcher and every name the
/// launcher uses exists; every params struct has the size its static_assert states on both sides; every source
/// declares its architectures and includes nothing but the prelude. (That every .cu has its launcher beside it is the
/// folder's layout rule, checked with the architecture: KernelLayoutTests.)
/// </summary>
public sealed partial class KernelSourceLintTests
{
    private static readonly Assembly KernelsAssembly = typeof(CudaSources).Assembly;

    public static TheoryData<string> Sources() => [.. CudaSources.Files];

    [Theory]
    [MemberData(nameof(Sources))]
    public void Entry_points_match_between_the_cu_file_and_its_launcher(string file)
    {
        var inSource = EntryRegex().Matches(CudaSources.Text(file)).Select(m => m.Groups[1].Value).Order().ToList();
        var launcher = Launcher(file);
        var declared = ((IReadOnlyList<string>)launcher.GetProperty("EntryPoints")!.GetValue(null)!).Order().ToList();

        Assert.Equal(inSource, declared);
        Assert.Equal(file, launcher.GetField("SourceFile")!.GetValue(null));
        var stem = Path.GetFileNameWithoutExtension(file);
        var snake = SnakeRegex().Replace(stem, "$1_$2").ToLowerInvariant();
        Assert.All(inSource, e => Assert.Matches($"^{snake}_([a-z0-9]+_)?(f32|f16|bf16)$", e));
    }

    [Theory]
    [MemberData(nameof(Sources))]
    public void Params_structs_have_the_size_their_static_assert_states(string file)
    {
        var text = CudaSources.Text(file);
        var structs = StructRegex().Matches(text).Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(structs);
        foreach (var name in structs)
        {
            var assert = Regex.Match(text, $@"static_assert\(sizeof\({name}\) == (\d+), """"\);");
            Assert.True(assert.Success, $"{file}: struct {name} has no static_assert(sizeof({name}) == N, \"\").");
            var type = KernelsAssembly.GetType($"CudaI2V.Kernels.Cuda.{name}");
            Assert.True(type is not null, $"{file}: struct {name} has no C# mirror CudaI2V.Kernels.Cuda.{name}.");
            Assert.True(type!.IsLayoutSequential, $"{name} must be [StructLayout(LayoutKind.Sequential)].");
            var size = (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type).Invoke(null, null)!;
            Assert.True(int.Parse(assert.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) == size, $"{name}: C# size {size}, {file} asserts {assert.Groups[1].Value}.");
        }
    }

    [Fact]
    public void Every_csharp_params_struct_mirrors_a_cuda_struct()
    {
        var cudaStructs = CudaSources.Files.SelectMany(f => StructRegex().Matches(CudaSources.Text(f)).Select(m => m.Groups[1].Value)).ToHashSet();
        var csharp = KernelsAssembly.GetTypes().Where(t => t.Namespace == "CudaI2V.Kernels.Cuda" && t.IsValueType && t.Name.EndsWith("Params", StringComparison.Ordinal));

        Assert.All(csharp, t => Assert.True(cudaStructs.Contains(t.Name), $"{t.Name} has no struct of that name in a .cu file."));
    }

    [Theory]
    [MemberData(nameof(Sources))]
    public void Sources_declare_their_architectures_and_include_only_the_prelude(string file)
    {
        var text = CudaSources.Text(file);
        var architectures = CudaSources.DeclaredArchitectures(file);

        Assert.StartsWith(CudaSources.ArchitecturesMarker, text, StringComparison.Ordinal);
        Assert.All(architectures, a => Assert.InRange(a, 70, 130));
        var includes = IncludeRegex().Matches(text).Select(m => m.Groups[1].Value).ToList();
        Assert.Equal([$"\"{CudaSources.PreludeName}\""], includes);
        Assert.Empty(IncludeRegex().Matches(CudaSources.Text(CudaSources.PreludeName)));
    }

    [Fact]
    public void A_missing_or_malformed_architectures_line_is_refused_naming_the_file()
    {
        Assert.Contains("X.cu has no", Assert.Throws<FormatException>(() => CudaSources.ParseArchitectures("X.cu", "// nothing\n")).Message, StringComparison.Ordinal);
        Assert.Contains("'compute_80'", Assert.Throws<FormatException>(() => CudaSources.ParseArchitectures("X.cu", "// cudai2v-archs: compute_80\n")).Message, StringComparison.Ordinal);
        Assert.Equal([80, 90], CudaSources.ParseArchitectures("X.cu", "// cudai2v-archs: sm_80  sm_90\n"));
    }

    private static Type Launcher(string file) =>
        KernelsAssembly.GetType($"CudaI2V.Kernels.Cuda.{Path.GetFileNameWithoutExtension(file)}Kernel")
        ?? throw new InvalidOperationException($"{file} has no launcher class.");

    [GeneratedRegex(@"extern ""C"" __global__ void (\w+)\(")]
    private static partial Regex EntryRegex();

    [GeneratedRegex(@"^struct (\w+Params) \{", RegexOptions.Multiline)]
    private static partial Regex StructRegex();

    [GeneratedRegex(@"^\s*#\s*include\s+(\S+)", RegexOptions.Multiline)]
    private static partial Regex IncludeRegex();

    [GeneratedRegex("([a-z])([A-Z])")]
    private static partial Regex SnakeRegex();
}
