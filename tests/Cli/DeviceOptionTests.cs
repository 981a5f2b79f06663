using CudaI2V.Cli;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Cli;

/// <summary><c>--device</c>: auto falls back to the CPU with a message; cuda without a GPU is a clear error.</summary>
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
}
