using CudaI2V.Native.Errors;
using CudaI2V.Native.Loading;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Native;

/// <summary>
/// The library search order, on fake folder trees (empty files standing in for libraries) and a fake loader: nothing
/// here loads a real library.
/// </summary>
public sealed class LibrarySearchTests
{
    private readonly string _root = Fixtures.TempFolder("libsearch");

    private string Touch(params string[] parts)
    {
        var path = Path.Combine([_root, .. parts]);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, []);
        return path;
    }

    private SearchContext Linux(Dictionary<string, string?>? env = null, int? maxCudaMajor = null) =>
        new(false, v => env?.GetValueOrDefault(v), _root, maxCudaMajor);

    private static List<string> Paths(SearchPlan plan) => [.. plan.Candidates.Select(c => c.PathOrName)];

    [Fact]
    public void Toolkit_libraries_are_searched_in_the_documented_order()
    {
        var custom = Touch("opt", "mycuda", "lib64", "libnvrtc.so.12");
        var cudaPath = Touch("cuda-path", "lib64", "libnvrtc.so.12");
        var usrLocal = Touch("usr", "local", "cuda", "lib64", "libnvrtc.so.13");
        var versioned = Touch("usr", "local", "cuda-12.4", "lib64", "libnvrtc.so.12");
        var nvidia = Touch("usr", "local", "nvidia", "lib64", "libnvrtc.so.12");
        var pip = Touch("venv", "lib", "python3.12", "site-packages", "nvidia", "cuda_nvrtc", "lib", "libnvrtc.so.12");
        var env = new Dictionary<string, string?>
        {
            [LibrarySearch.OverrideVariable] = Path.Combine(_root, "opt", "mycuda"),
            ["CUDA_PATH"] = Path.Combine(_root, "cuda-path"),
            ["VIRTUAL_ENV"] = Path.Combine(_root, "venv"),
        };

        var plan = LibrarySearch.Plan(CudaLibrary.Nvrtc, Linux(env));

        var paths = Paths(plan);
        var systemLoader = paths.IndexOf("libnvrtc.so.13");
        Assert.Equal([custom, cudaPath, usrLocal, versioned, nvidia], paths.Take(5));
        Assert.True(systemLoader > paths.IndexOf(nvidia), "the system loader comes after the toolkit folders");
        Assert.True(paths.IndexOf(pip) > systemLoader, "pip's folders come after the system loader");
        Assert.Equal(LibrarySearch.OverrideVariable, plan.Candidates[0].Source);
        Assert.Equal(["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so.11.1", "libnvrtc.so.11.0", "libnvrtc.so"],
            plan.Candidates.Where(c => c.ByName).Select(c => c.PathOrName));
    }

    [Fact]
    public void Within_a_folder_the_newest_name_wins_and_the_unversioned_name_comes_last()
    {
        var folder = Path.Combine(_root, "usr", "local", "cuda", "lib64");
        var old = Touch("usr", "local", "cuda", "lib64", "libcublas.so.11");
        var dev = Touch("usr", "local", "cuda", "lib64", "libcublas.so");
        var current = Touch("usr", "local", "cuda", "lib64", "libcublas.so.12");

        var paths = Paths(LibrarySearch.Plan(CudaLibrary.Cublas, Linux())).Where(p => p.StartsWith(folder, StringComparison.Ordinal));

        Assert.Equal([current, old, dev], paths);
    }

    [Fact]
    public void Versioned_toolkit_folders_are_searched_newest_first()
    {
        var v118 = Touch("usr", "local", "cuda-11.8", "lib64", "libnvrtc.so.11.2");
        var v129 = Touch("usr", "local", "cuda-12.9", "lib64", "libnvrtc.so.12");
        var v1210 = Touch("usr", "local", "cuda-12.10", "lib64", "libnvrtc.so.12");

        var paths = Paths(LibrarySearch.Plan(CudaLibrary.Nvrtc, Linux())).Where(Path.IsPathRooted).ToList();

        Assert.Equal([v1210, v129, v118], paths);
    }

    [Fact]
    public void A_stubs_folder_is_never_searched_even_when_named_by_the_override()
    {
        var stub = Touch("usr", "local", "cuda", "lib64", "stubs", "libcuda.so.1");
        var env = new Dictionary<string, string?> { [LibrarySearch.OverrideVariable] = Path.GetDirectoryName(stub) };

        var plan = LibrarySearch.Plan(CudaLibrary.Driver, Linux(env));

        Assert.DoesNotContain(plan.Candidates, c => c.PathOrName.Contains("stubs", StringComparison.Ordinal));
        Assert.Contains(plan.Notes, n => n.Contains("stubs", StringComparison.Ordinal) && n.Contains("skipped", StringComparison.Ordinal));
    }

    [Fact]
    public void A_library_that_links_into_a_stubs_folder_is_skipped()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // symbolic links need privileges there; the rule is the same
        }

        var stub = Touch("usr", "local", "cuda", "lib64", "stubs", "libcublas.so.12");
        var link = Path.Combine(_root, "usr", "local", "cuda", "lib64", "libcublas.so.12");
        File.CreateSymbolicLink(link, stub);

        var plan = LibrarySearch.Plan(CudaLibrary.Cublas, Linux());

        Assert.DoesNotContain(link, Paths(plan));
        Assert.Contains(plan.Notes, n => n.StartsWith(link, StringComparison.Ordinal) && n.Contains("stubs", StringComparison.Ordinal));
    }

    [Fact]
    public void The_driver_asks_the_system_loader_first_and_never_searches_toolkit_folders()
    {
        Touch("usr", "local", "cuda", "lib64", "libcuda.so.1");
        var container = Touch("usr", "local", "nvidia", "lib64", "libcuda.so.1");

        var plan = LibrarySearch.Plan(CudaLibrary.Driver, Linux());

        Assert.Equal(["libcuda.so.1", container], Paths(plan));
        Assert.True(plan.Candidates[0].ByName);
    }

    [Fact]
    public void Libraries_newer_than_the_driver_are_skipped_with_a_reason()
    {
        var newer = Touch("usr", "local", "cuda", "lib64", "libcublasLt.so.13");
        var fitting = Touch("usr", "local", "cuda", "lib64", "libcublasLt.so.12");

        var plan = LibrarySearch.Plan(CudaLibrary.CublasLt, Linux(maxCudaMajor: 12));

        Assert.DoesNotContain(newer, Paths(plan));
        Assert.Contains(fitting, Paths(plan));
        Assert.DoesNotContain("libcublasLt.so.13", Paths(plan));
        Assert.Contains(plan.Notes, n => n.StartsWith(newer, StringComparison.Ordinal) && n.Contains("newer than the driver supports (CUDA 12)", StringComparison.Ordinal));
    }

    [Fact]
    public void Windows_uses_dll_names_and_the_toolkit_bin_folders()
    {
        var x64 = Touch("CUDA", "v13.0", "bin", "x64", "nvrtc64_130_0.dll");
        var bin12 = Touch("CUDA", "v12.4", "bin", "nvrtc64_120_0.dll");
        var env = new Dictionary<string, string?> { ["CUDA_PATH"] = Path.Combine(_root, "CUDA", "v13.0") };
        var context = new SearchContext(true, v => env.GetValueOrDefault(v), "");

        var plan = LibrarySearch.Plan(CudaLibrary.Nvrtc, context);

        Assert.Equal(x64, plan.Candidates[0].PathOrName);
        Assert.DoesNotContain(bin12, Paths(plan)); // v12.4 is not under Program Files here, only CUDA_PATH is searched
        Assert.Equal(["nvrtc64_130_0.dll", "nvrtc64_120_0.dll", "nvrtc64_112_0.dll", "nvrtc64_111_0.dll", "nvrtc64_110_0.dll"],
            plan.Candidates.Where(c => c.ByName).Select(c => c.PathOrName));
        Assert.Equal(["nvcuda.dll"], LibrarySearch.Plan(CudaLibrary.Driver, context).Candidates.Select(c => c.PathOrName));
        Assert.Equal(["cublasLt64_13.dll", "cublasLt64_12.dll", "cublasLt64_11.dll"], CudaLibraryNames.For(CudaLibrary.CublasLt, windows: true));
    }

    [Theory]
    [InlineData("libnvrtc.so.11.2", 11)]
    [InlineData("libnvrtc.so.13", 13)]
    [InlineData("libcublasLt.so.12", 12)]
    [InlineData("nvrtc64_112_0.dll", 11)]
    [InlineData("nvrtc64_130_0.dll", 13)]
    [InlineData("cublas64_12.dll", 12)]
    [InlineData("libnvrtc.so", null)]
    [InlineData("libcuda.so.1", null)]
    public void The_cuda_major_version_is_read_from_the_file_name(string name, int? major) =>
        Assert.Equal(major, CudaLibraryNames.MajorVersion(name));

    [Fact]
    public void CublasLt_is_loaded_before_cublas_and_cublas_comes_from_the_same_folder()
    {
        var folder12 = Path.Combine(_root, "usr", "local", "cuda-12.4", "lib64");
        Touch("usr", "local", "cuda", "lib64", "libcublas.so.13"); // a cuBLAS without its cuBLASLt: must not be taken
        var lt = Touch("usr", "local", "cuda-12.4", "lib64", "libcublasLt.so.12");
        var cublas = Touch("usr", "local", "cuda-12.4", "lib64", "libcublas.so.12");
        var loader = new FakeLoader(lt, cublas);
        var set = new LibrarySet(() => Linux(), loader);

        var result = set.Load(CudaLibrary.Cublas);

        Assert.True(result.Found);
        Assert.Equal(cublas, result.Path);
        Assert.Equal([lt, cublas], loader.Loaded);
        Assert.Equal(folder12, Path.GetDirectoryName(result.Path));
        Assert.Equal([("libcublasLt", lt), ("libcublas", cublas)], set.Loaded.Select(l => (l.Name, l.Path)));
    }

    [Fact]
    public void Nvrtc_builtins_are_loaded_from_nvrtcs_own_folder_first()
    {
        var builtins = Touch("usr", "local", "cuda", "lib64", "libnvrtc-builtins.so.12.4");
        Touch("usr", "local", "cuda", "lib64", "libnvrtc-builtins.so.12.4.127");
        var nvrtc = Touch("usr", "local", "cuda", "lib64", "libnvrtc.so.12");
        var loader = new FakeLoader(builtins, nvrtc);
        var set = new LibrarySet(() => Linux(), loader);

        Assert.True(set.Load(CudaLibrary.Nvrtc).Found);

        Assert.Equal([builtins, nvrtc], loader.Loaded);
        Assert.Contains(set.Loaded, l => l.Path == builtins && l.How == "companion of libnvrtc.so.12");
    }

    [Fact]
    public void A_failed_search_reports_every_place_and_every_loader_error()
    {
        var broken = Touch("usr", "local", "cuda", "lib64", "libnvrtc.so.12");
        var set = new LibrarySet(() => Linux(), new FakeLoader());

        var result = set.Load(CudaLibrary.Nvrtc);
        var error = new CudaLibraryNotFoundException(result);

        Assert.False(result.Found);
        Assert.Contains(result.Places, p => p.StartsWith(broken, StringComparison.Ordinal) && p.Contains("exists but did not load: fake: not loadable", StringComparison.Ordinal));
        Assert.Contains(result.Places, p => p.StartsWith("libnvrtc.so.13 (system loader", StringComparison.Ordinal));
        Assert.Contains(result.Places, p => p.Contains("cuda-", StringComparison.Ordinal) || p.Contains("nvidia", StringComparison.Ordinal));
        Assert.Contains("was not found. Looked in:", error.Message, StringComparison.Ordinal);
        Assert.Contains(LibrarySearch.OverrideVariable, error.Message, StringComparison.Ordinal);
        Assert.Same(result, set.Load(CudaLibrary.Nvrtc)); // searched once
    }

    /// <summary>Loads only the listed paths, recording the order of successful loads.</summary>
    private sealed class FakeLoader(params string[] loadable) : INativeLoader
    {
        public List<string> Loaded { get; } = [];

        public bool TryLoad(string pathOrName, out nint handle, out string error)
        {
            if (loadable.Contains(pathOrName))
            {
                Loaded.Add(pathOrName);
                handle = Loaded.Count;
                error = "";
                return true;
            }

            handle = 0;
            error = "fake: not loadable";
            return false;
        }

        public string? LoadedPath(string name) => null;
    }
}
