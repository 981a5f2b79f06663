using CudaI2V.Cli;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Cli;

/// <summary><c>cudai2v info</c> and <c>cudai2v bench</c>: with a GPU they report it; without one they explain and exit as documented.</summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Info_exits_0_and_explains_what_it_found()
    {
        var cache = Fixtures.TempFolder("info-cache");
        var (code, output, error) = Run("info", "--cache-dir", cache);

        Assert.True(code == ExitCodes.Success, error);
        Assert.Contains($"cache root: {cache}", output, StringComparison.Ordinal);
        Assert.Contains("NVRTC: ", output, StringComparison.Ordinal);
        Assert.Contains("cuBLAS: ", output, StringComparison.Ordinal);
        Assert.Contains("libraries loaded:", output, StringComparison.Ordinal);
        if (GpuProbe.IsAvailable)
        {
            Assert.Contains("CUDA driver: ", output, StringComparison.Ordinal);
            Assert.Contains("GPU 0: ", output, StringComparison.Ordinal);
            Assert.Contains("compute capability", output, StringComparison.Ordinal);
        }
        else if (!output.Contains("no usable GPU", StringComparison.Ordinal))
        {
            // No driver at all (this CI machine): say so plainly and list every place looked.
            Assert.Contains("CUDA driver: none. The CUDA driver (libcuda.so.1) was not found", output.Replace("nvcuda.dll", "libcuda.so.1", StringComparison.Ordinal), StringComparison.Ordinal);
            Assert.Contains("looked in:", output, StringComparison.Ordinal);
            Assert.Contains("CUDAI2V_CUDA_PATH", output, StringComparison.Ordinal);
            Assert.Contains("system loader", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Info_names_the_nvrtc_it_loaded_and_its_architectures()
    {
        GpuProbe.RequireNvrtc();
        var (_, output, _) = Run("info");

        Assert.Matches(@"NVRTC: \d+\.\d+, compiles for .*sm_80", output);
        Assert.Matches(@"libnvrtc\S*\s+/\S+libnvrtc\.so", output.Replace('\\', '/'));
    }

    [Fact]
    public void Bench_without_a_gpu_exits_3_with_a_clear_message()
    {
        Assert.SkipWhen(GpuProbe.IsAvailable, "this machine has a GPU; Bench_gemm_reports_tflops covers it");

        var (code, output, error) = Run("bench", "gemm", "--m", "64", "--n", "64", "--k", "64");

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Empty(output);
        Assert.StartsWith("cudai2v bench: no usable CUDA GPU: ", error, StringComparison.Ordinal);
        Assert.Contains("cudai2v info", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Bench_gemm_reports_tflops()
    {
        GpuProbe.RequireCublas();

        foreach (var api in new[] { "cublas", "cublaslt" })
        {
            var (code, output, error) = Run("bench", "gemm", "--m", "512", "--n", "256", "--k", "384", "--dtype", "bf16", "--repeats", "3", "--api", api);

            Assert.True(code == ExitCodes.Success, error + output);
            Assert.Contains("GEMM 512 x 256 x 384: bf16", output, StringComparison.Ordinal);
            Assert.Matches(@"throughput: \d+\.\d TFLOP/s", output);
        }
    }

    [Fact]
    public void Bench_usage_errors_exit_2()
    {
        Assert.Equal(ExitCodes.Usage, Run("bench", "conv").Code);
        Assert.Equal(ExitCodes.Usage, Run("bench", "unet", "--frames", "0").Code);
        Assert.Equal(ExitCodes.Usage, Run("bench", "--height", "500").Code);
        Assert.Equal(ExitCodes.Usage, Run("bench", "--vae-precision", "fp8").Code);
        Assert.Equal(ExitCodes.Usage, Run("bench", "gemm", "--dtype", "fp8").Code);
        Assert.Equal(ExitCodes.Usage, Run("bench", "gemm", "--m", "0").Code);
        Assert.Contains("gemm", Run("bench", "--help").Out, StringComparison.Ordinal);
        Assert.Contains("--height", Run("bench", "--help").Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Bench_of_the_unet_without_a_gpu_exits_3_and_says_why()
    {
        if (GpuProbe.IsAvailable)
        {
            Assert.Skip("This machine has a GPU; the refusal is tested where there is none.");
        }

        var (code, _, error) = Run("bench");
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("no usable CUDA GPU", error, StringComparison.Ordinal);
    }
}
