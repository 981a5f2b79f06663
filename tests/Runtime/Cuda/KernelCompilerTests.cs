using CudaI2V.Kernels.Cuda;
using CudaI2V.Native.Errors;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Compilation;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Runtime.Cuda;

/// <summary>The kernel compiler and its cache, through the real NVRTC (no GPU needed).</summary>
public sealed class KernelCompilerTests
{
    private static readonly KernelTarget Sm80 = new(80, Cubin: true);
    private static readonly Version Nvrtc = new(11, 8);

    [Fact]
    public void The_cache_key_changes_with_every_input_and_only_with_them()
    {
        var source = new KernelSource("K.cu", "extern \"C\" __global__ void k() {}", [new KernelHeader("Common.cuh", "// a")]);
        string[] options = ["--gpu-architecture=sm_80", "-DBLOCK=256"];
        var key = KernelCompiler.CacheKey(source, Sm80, options, Nvrtc);

        Assert.Equal(key, KernelCompiler.CacheKey(source with { }, Sm80, [.. options], new Version(11, 8)));
        Assert.Equal(64, key.Length);
        string[] variants =
        [
            KernelCompiler.CacheKey(source with { Code = source.Code + " " }, Sm80, options, Nvrtc),
            KernelCompiler.CacheKey(source with { Name = "L.cu" }, Sm80, options, Nvrtc),
            KernelCompiler.CacheKey(source with { Headers = [new KernelHeader("Common.cuh", "// b")] }, Sm80, options, Nvrtc),
            KernelCompiler.CacheKey(source, Sm80, ["--gpu-architecture=sm_80", "-DBLOCK=128"], Nvrtc),
            KernelCompiler.CacheKey(source, Sm80, ["-DBLOCK=256", "--gpu-architecture=sm_80"], Nvrtc),
            KernelCompiler.CacheKey(source, Sm80, options, new Version(12, 4)),
            KernelCompiler.CacheKey(source, new KernelTarget(90, Cubin: true), options, Nvrtc),
            KernelCompiler.CacheKey(source, new KernelTarget(80, Cubin: false), options, Nvrtc),
        ];
        Assert.DoesNotContain(key, variants);
        Assert.Equal(variants.Length, variants.Distinct().Count());
    }

    [Fact]
    public void Defines_become_sorted_options_after_the_target()
    {
        var build = new KernelBuildOptions(new Dictionary<string, string> { ["WARPS"] = "4", ["BLOCK_SIZE"] = "256" }, ["--use_fast_math"]);

        Assert.Equal(
            ["--gpu-architecture=sm_80", "--std=c++17", "--generate-line-info", "-DBLOCK_SIZE=256", "-DWARPS=4", "--use_fast_math"],
            KernelCompiler.OptionsFor(Sm80, build));
        Assert.Throws<ArgumentException>(() => new KernelBuildOptions(new Dictionary<string, string> { ["1X"] = "1" }, []));
    }

    [Fact]
    public void A_second_compiler_on_the_same_cache_root_compiles_nothing()
    {
        GpuProbe.RequireNvrtc();
        var root = new CacheRoot(Fixtures.TempFolder("kernel-cache"));
        var source = CudaSources.Load("Fill.cu");

        var first = new KernelCompiler(root);
        var compiled = first.Compile(source, Sm80);
        var again = first.Compile(source, Sm80);

        Assert.Equal(KernelOrigin.Compiled, compiled.Origin);
        Assert.Equal(KernelOrigin.Memory, again.Origin);
        Assert.Equal(1, first.Compilations);
        var entry = first.EntryPath(source, Sm80, compiled.Key)!;
        Assert.True(File.Exists(entry), entry);
        Assert.StartsWith("Fill-sm_80-", Path.GetFileName(entry), StringComparison.Ordinal);
        Assert.Equal(Path.Combine(root.Path, KernelCompiler.CacheArea), Path.GetDirectoryName(entry));

        // A new process is a new compiler with an empty memory and the same cache root.
        var second = new KernelCompiler(root);
        var loaded = second.Compile(source, Sm80);

        Assert.Equal(0, second.Compilations);
        Assert.Equal(1, second.DiskHits);
        Assert.Equal(KernelOrigin.Disk, loaded.Origin);
        Assert.Equal(compiled.Image, loaded.Image);
        Assert.Equal(compiled.Key, loaded.Key);
    }

    [Fact]
    public void A_damaged_cache_entry_is_compiled_again_and_replaced()
    {
        GpuProbe.RequireNvrtc();
        var root = new CacheRoot(Fixtures.TempFolder("kernel-cache-damaged"));
        var source = CudaSources.Load("Cast.cu");
        var first = new KernelCompiler(root).Compile(source, Sm80);
        var entry = new KernelCompiler(root).EntryPath(source, Sm80, first.Key)!;
        File.WriteAllBytes(entry, [1, 2, 3]);

        var compiler = new KernelCompiler(root);
        var again = compiler.Compile(source, Sm80);

        Assert.Equal(1, compiler.Compilations);
        Assert.Equal(first.Image, again.Image);
        Assert.Equal(first.Image, File.ReadAllBytes(entry));
    }

    [Fact]
    public void Ptx_targets_give_nul_terminated_ptx_and_cubin_targets_an_elf_image()
    {
        GpuProbe.RequireNvrtc();
        var compiler = new KernelCompiler(null);
        var source = CudaSources.Load("Fill.cu");

        var ptx = compiler.Compile(source, new KernelTarget(80, Cubin: false));
        var cubin = compiler.Compile(source, new KernelTarget(90, Cubin: true));

        Assert.Equal(0, ptx.Image[^1]);
        var text = System.Text.Encoding.ASCII.GetString(ptx.Image);
        Assert.Contains(".target sm_80", text, StringComparison.Ordinal);
        Assert.Contains(".entry fill_f16", text, StringComparison.Ordinal);
        Assert.Equal("\u007fELF", System.Text.Encoding.ASCII.GetString(cubin.Image, 0, 4));
        Assert.Null(compiler.EntryPath(source, Sm80, ptx.Key));
    }

    [Fact]
    public void A_syntax_error_throws_with_nvrtcs_log_the_kernel_and_the_options()
    {
        GpuProbe.RequireNvrtc();
        var source = new KernelSource("Broken.cu", "extern \"C\" __global__ void broken(float* x)\n{\n    x[0] = 1.0f\n}\n");
        var compiler = new KernelCompiler(null);

        var e = Assert.Throws<NvrtcCompileException>(() => compiler.Compile(source, Sm80));

        Assert.Equal("Broken.cu", e.Kernel);
        Assert.Equal("NVRTC", e.Library);
        Assert.Equal("NVRTC_ERROR_COMPILATION", e.ErrorName);
        Assert.Contains("--gpu-architecture=sm_80", e.Options);
        Assert.Contains("Broken.cu(4): error", e.Log, StringComparison.Ordinal);
        Assert.Contains(e.Log, e.Message, StringComparison.Ordinal);
        Assert.Equal(0, compiler.Compilations);

        // A failure is not remembered: the same source fails again (NVRTC runs again) rather than returning a stale result.
        Assert.Throws<NvrtcCompileException>(() => compiler.Compile(source, Sm80));
    }

    [Fact]
    public void An_unknown_option_is_reported_as_a_compile_failure_naming_it()
    {
        GpuProbe.RequireNvrtc();
        var build = new KernelBuildOptions(new Dictionary<string, string>(), ["--no-such-option"]);

        var e = Assert.Throws<NvrtcCompileException>(() => new KernelCompiler(null).Compile(CudaSources.Load("Fill.cu"), Sm80, build));

        Assert.Contains("--no-such-option", e.Message, StringComparison.Ordinal);
    }
}
