using CudaI2V.Cli;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Cli;

/// <summary>
/// <c>--device</c>: auto falls back to the CPU with a message; cuda without a GPU is a clear error. <c>--dtype</c>:
/// fp16 or bf16 on the GPU, nothing else anywhere.
/// </summary>
public sealed class DeviceOptionTests
{
    [Fact]
    public void Auto_falls_back_to_the_cpu_and_says_why_and_cuda_refuses_without_a_gpu()
    {
        if (GpuProbe.IsAvailable)
        {
            Assert.Skip("This machine has a GPU; the fallback is tested where there is none.");
        }

        var model = Fixtures.ComponentModel("unet-tiny");
        var io = Fixtures.Path("unet-tiny", "io.safetensors");
        var auto = Run("verify", "unet", "--model", model, "--io", io);
        Assert.Equal(ExitCodes.Success, auto.Code);
        Assert.Contains("no usable GPU", auto.Err, StringComparison.Ordinal);
        Assert.Contains("on cpu", auto.Err, StringComparison.Ordinal);

        var cuda = Run("verify", "unet", "--model", model, "--io", io, "--device", "cuda");
        Assert.Equal(ExitCodes.BadInput, cuda.Code);
        Assert.Contains("--device cuda: no usable GPU", cuda.Err, StringComparison.Ordinal);

        Assert.Equal(ExitCodes.Success, Run("verify", "unet", "--model", model, "--io", io, "--device", "cpu").Code);
    }

    [Fact]
    public void Dtype_takes_fp16_bf16_or_fp32_and_the_cpu_runs_in_fp32_whatever_it_says()
    {
        var model = Fixtures.ComponentModel("unet-tiny");
        var io = Fixtures.Path("unet-tiny", "io.safetensors");
        var cpu = Run("verify", "unet", "--model", model, "--io", io, "--device", "cpu", "--dtype", "bf16");
        Assert.Equal(ExitCodes.Success, cpu.Code);
        Assert.Contains("PASS", cpu.Out, StringComparison.Ordinal);

        var wrong = Run("verify", "unet", "--model", model, "--io", io, "--device", "cpu", "--dtype", "fp8");
        Assert.Equal(ExitCodes.Usage, wrong.Code);
        Assert.Contains("--dtype must be one of fp16, bf16, fp32, got 'fp8'", wrong.Err, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Usage, Run("generate", "--demo", "--dtype", "fp8").Code);
        Assert.Contains("--dtype must be one of fp16, bf16, got 'fp32'", Run("bench", "--dtype", "fp32").Err, StringComparison.Ordinal); // the benchmarks time fp16 and bf16
    }

    [Fact]
    public void Attention_takes_gemm_or_flash()
    {
        var model = Fixtures.ComponentModel("unet-tiny");
        var io = Fixtures.Path("unet-tiny", "io.safetensors");
        Assert.Equal(ExitCodes.Success, Run("verify", "unet", "--model", model, "--io", io, "--device", "cpu", "--attention", "flash").Code); // the CPU has one attention

        var wrong = Run("verify", "unet", "--model", model, "--io", io, "--device", "cpu", "--attention", "sdpa");
        Assert.Equal(ExitCodes.Usage, wrong.Code);
        Assert.Contains("--attention must be one of gemm, flash, got 'sdpa'", wrong.Err, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Usage, Run("generate", "--demo", "--attention", "sdpa").Code);
        Assert.Equal(ExitCodes.Usage, Run("bench", "--attention", "sdpa").Code);
    }
}
