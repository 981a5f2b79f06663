using System.Text;
using CudaI2V.Kernels.Cuda;
using CudaI2V.Runtime.Compilation;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Kernels.Cuda;

/// <summary>
/// Every kernel source compiles with the real NVRTC for each architecture it declares that this NVRTC supports
/// (sm_80, sm_89 and sm_90 with Debian's NVRTC 11.8), into a CUBIN holding every entry point. No GPU needed.
/// </summary>
public sealed class KernelCompileTests
{
    private static readonly Lazy<KernelCompiler> Compiler = new(() => new KernelCompiler(null));

    public static TheoryData<string, int> SourcesAndArchitectures()
    {
        var data = new TheoryData<string, int>();
        foreach (var file in CudaSources.Files)
        {
            foreach (var architecture in CudaSources.DeclaredArchitectures(file))
            {
                data.Add(file, architecture);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(SourcesAndArchitectures))]
    public void The_source_compiles_to_a_cubin_with_every_entry_point(string file, int architecture)
    {
        GpuProbe.RequireNvrtc();
        var supported = Compiler.Value.SupportedArchitectures;
        Assert.SkipUnless(supported.Count == 0 || supported.Contains(architecture), $"NVRTC {Compiler.Value.NvrtcVersion} cannot target sm_{architecture}; the GPU machine's NVRTC compiles it.");

        var kernel = Compiler.Value.Compile(CudaSources.Load(file), new KernelTarget(architecture, Cubin: true));

        Assert.Equal("\u007fELF", Encoding.ASCII.GetString(kernel.Image, 0, 4));
        Assert.True(kernel.Log.Length == 0, $"{file} sm_{architecture} compiled with warnings:\n{kernel.Log}");
        var symbols = Encoding.ASCII.GetString(kernel.Image);
        var launcher = typeof(CudaSources).Assembly.GetType($"CudaI2V.Kernels.Cuda.{Path.GetFileNameWithoutExtension(file)}Kernel")!;
        foreach (var entry in (IReadOnlyList<string>)launcher.GetProperty("EntryPoints")!.GetValue(null)!)
        {
            Assert.Contains("\0" + entry + "\0", symbols, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Every_prelude_helper_compiles_even_those_no_kernel_uses_yet()
    {
        GpuProbe.RequireNvrtc();
        // Inline helpers are only assembled when used: this kernel uses each one so ptxas checks its inline PTX.
        const string Code = """
            #include "Common.cuh"
            extern "C" __global__ void prelude_check(u64 out, u64 halves, u64 bhalves) {
                const f16 h = device_ptr<const f16>(halves)[threadIdx.x];
                const bf16 b = device_ptr<const bf16>(bhalves)[threadIdx.x];
                float v = to_f32(h) + to_f32(b) + to_f32(1.0f);
                v = warp_sum(v) + warp_max(v) + shfl_xor(v, 1);
                v = silu(v) + gelu_erf(v);
                device_ptr<f16>(out)[global_index()] = from_f32<f16>(v);
                device_ptr<bf16>(out)[grid_stride()] = from_f32<bf16>(v);
                device_ptr<float>(out)[1] = from_f32<float>(v);
            }
            """;
        var prelude = CudaSources.Load(FillKernel.SourceFile).Headers;
        foreach (var architecture in new[] { 80, 90 })
        {
            var kernel = Compiler.Value.Compile(new KernelSource("PreludeCheck.cu", Code, prelude), new KernelTarget(architecture, Cubin: true));
            Assert.True(kernel.Log.Length == 0, kernel.Log);
        }
    }

    [Fact]
    public void Debians_nvrtc_covers_the_portable_architectures()
    {
        GpuProbe.RequireNvrtc();
        var supported = Compiler.Value.SupportedArchitectures;
        Assert.SkipWhen(supported.Count == 0, "this NVRTC cannot list its architectures");

        Assert.Contains(80, supported);
        Assert.Contains(89, supported);
        Assert.Contains(90, supported);
    }
}
