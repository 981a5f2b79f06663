using System.Reflection;
using System.Text.RegularExpressions;
using CudaI2V.Kernels.Cuda;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Architecture;

/// <summary>
/// The layout rule of Kernels/Cuda: the folder itself holds the kernels, each <c>X.cu</c> with its launcher
/// <c>XKernel.cs</c> beside it, the shared <c>Common.cuh</c>, and the few files every launcher is made of; everything
/// else lives in a subfolder that says what it holds, in the namespace of its folder. Launchers are pure plans: no
/// launcher method takes a stream or the module cache, so running a plan is always
/// <c>kernels.Launch(stream, XKernel.Plan(...))</c>.
/// </summary>
public sealed partial class KernelLayoutTests
{
    private static readonly string Folder = Path.Combine(RepoPaths.Root, "Kernels", "Cuda");

    /// <summary>The files beside the kernels, and why each belongs there.</summary>
    private static readonly Dictionary<string, string> LaunchInfrastructure = new()
    {
        ["CudaSources.cs"] = "the embedded .cu sources and their declared architectures",
        ["CudaKernels.cs"] = "the kernel registry: each source's module, compiled and loaded at its first launch, and the one launch path",
        ["KernelPlans.cs"] = "what a launcher's plan is made of: launches, copies, fills, grids",
        ["LaunchChecks.cs"] = "the argument checks every launcher shares",
    };

    /// <summary>The subfolders of Kernels/Cuda, and what each holds.</summary>
    private static readonly Dictionary<string, string> Subfolders = new()
    {
        ["Ops"] = "how the backend implements the ops that are more than one launcher call: the convolution, linear and attention strategies, their steps and arguments, the layout ops as copies, the uploaded timestep features",
        ["Backend"] = "the CUDA backend itself: the op table (CudaOps) and its memory (CudaMemory: scopes, the weight block, the workspace, planned arenas, graphs)",
    };

    [Fact]
    public void Every_cu_file_has_its_launcher_beside_it_and_every_launcher_its_cu_file()
    {
        var cu = Directory.GetFiles(Folder, "*.cu").Select(f => Path.GetFileNameWithoutExtension(f)).Order(StringComparer.Ordinal).ToList();
        var launchers = Directory.GetFiles(Folder, "*Kernel.cs").Select(f => Path.GetFileNameWithoutExtension(f)[..^"Kernel".Length]).Order(StringComparer.Ordinal).ToList();

        Assert.NotEmpty(cu);
        Assert.Equal(cu, launchers);
        Assert.Equal(cu.Select(c => c + ".cu"), CudaSources.Files); // and every one is embedded
    }

    [Fact]
    public void Nothing_but_kernels_launchers_and_the_launch_infrastructure_lives_directly_in_Kernels_Cuda()
    {
        var stray = Directory.GetFiles(Folder).Select(Path.GetFileName).OfType<string>()
            .Where(f => !f.EndsWith(".cu", StringComparison.Ordinal) && f != CudaSources.PreludeName && !f.EndsWith("Kernel.cs", StringComparison.Ordinal))
            .Where(f => !LaunchInfrastructure.ContainsKey(f))
            .ToList();

        Assert.True(
            stray.Count == 0,
            $"Kernels/Cuda holds {string.Join(", ", stray)}: move each into the subfolder that says what it is ({string.Join("; ", Subfolders.Select(s => $"{s.Key}/: {s.Value}"))}).");
    }

    [Fact]
    public void Subfolders_are_the_known_ones_and_hold_no_kernel_or_launcher()
    {
        foreach (var directory in Directory.GetDirectories(Folder))
        {
            var name = Path.GetFileName(directory);
            Assert.True(Subfolders.ContainsKey(name), $"Kernels/Cuda/{name} is not a known subfolder; say in {nameof(KernelLayoutTests)} what it holds.");
            var misplaced = Directory.GetFiles(directory, "*", SearchOption.AllDirectories)
                .Where(f => f.EndsWith(".cu", StringComparison.Ordinal) || f.EndsWith(".cuh", StringComparison.Ordinal) || f.EndsWith("Kernel.cs", StringComparison.Ordinal))
                .Select(f => Path.GetRelativePath(Folder, f));
            Assert.Empty(misplaced); // kernels and launchers stay in Kernels/Cuda, where the build embeds the sources
        }
    }

    [Fact]
    public void Every_file_under_Kernels_Cuda_is_in_the_namespace_of_its_folder()
    {
        foreach (var file in Directory.GetFiles(Folder, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(Folder, Path.GetDirectoryName(file)!);
            var expected = relative == "." ? "CudaI2V.Kernels.Cuda" : "CudaI2V.Kernels.Cuda." + relative.Replace(Path.DirectorySeparatorChar, '.');
            var declared = NamespaceRegex().Match(File.ReadAllText(file)).Groups[1].Value;
            Assert.True(declared == expected, $"{Path.GetRelativePath(Folder, file)} declares namespace {declared}; its folder's is {expected}.");
        }
    }

    [Fact]
    public void Launchers_only_plan_no_method_takes_a_stream_or_the_module_cache()
    {
        var launchers = typeof(CudaSources).Assembly.GetTypes()
            .Where(t => t.Namespace == "CudaI2V.Kernels.Cuda" && t.IsAbstract && t.IsSealed && t.Name.EndsWith("Kernel", StringComparison.Ordinal))
            .ToList();
        Assert.Equal(CudaSources.Files.Count, launchers.Count);
        var running = launchers
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(m => m.GetParameters().Any(p => p.ParameterType == typeof(CudaStream) || p.ParameterType == typeof(CudaKernels) || p.ParameterType == typeof(ILaunchTarget)))
            .Select(m => $"{m.DeclaringType!.Name}.{m.Name}")
            .ToList();

        Assert.True(running.Count == 0, $"{string.Join(", ", running)} run work; a launcher returns a plan and the caller runs it with kernels.Launch(stream, plan).");
    }

    [GeneratedRegex(@"^namespace ([\w.]+);", RegexOptions.Multiline)]
    private static partial Regex NamespaceRegex();
}
