using CudaI2V.Cli;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Layers;

/// <summary><c>cudai2v verify unet</c> against diffusers' outputs, and its exit codes for bad input.</summary>
public sealed class VerifyUNetTests
{
    [Theory]
    [InlineData("unet-tiny")]
    [InlineData("unet-odd")]
    public void Verify_unet_passes_on_the_reference_files(string fixture)
    {
        var (code, output, error) = Run("verify", "unet", "--model", Fixtures.ComponentModel(fixture), "--io", Fixtures.Path(fixture, "io.safetensors"));
        var lines = output.TrimEnd().Split('\n');
        Assert.True(code == ExitCodes.Success, output + error);
        Assert.StartsWith("output [2, 4, ", lines[0], StringComparison.Ordinal);
        Assert.Matches(@"^max_abs=\d\.\d{3}e[-+]\d\d max_rel=\d\.\d{3}e[-+]\d\d nmse=\d\.\d{3}e[-+]\d\d PASS$", lines[^1]);
        Assert.Contains("forward", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_accepts_a_whole_pipeline_folder()
    {
        var (code, output, _) = Run("verify", "unet", "--model", Fixtures.PipelineTiny, "--io", Fixtures.Path("unet-tiny", "io.safetensors"));
        Assert.Equal(ExitCodes.Success, code);
        Assert.EndsWith("PASS", output.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_tolerance_below_the_error_fails_with_exit_code_1()
    {
        var (code, output, _) = Run("verify", "unet", "--model", Fixtures.ComponentModel("unet-tiny"), "--io", Fixtures.Path("unet-tiny", "io.safetensors"), "--tolerance", "1e-12");
        Assert.Equal(ExitCodes.Failed, code);
        Assert.EndsWith("FAIL", output.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public void Wrong_inputs_exit_3_naming_the_tensor_and_the_expected_shape()
    {
        var dir = Fixtures.TempFolder("verify-bad");
        using var io = SafetensorsFile.Open(Fixtures.Path("unet-tiny", "io.safetensors"));
        var all = io.Names.ToDictionary(n => n, n => io.GetTensor(n).To(io.GetTensor(n).DType));

        var missing = Path.Combine(dir, "missing.safetensors");
        SafetensorsWriter.Write(missing, all.Where(p => p.Key != "input.image_embeddings"));
        var (code, _, error) = Run("verify", "unet", "--model", Fixtures.ComponentModel("unet-tiny"), "--io", missing);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("'input.image_embeddings'", error, StringComparison.Ordinal);
        Assert.Contains("(B, 1, cross_attention_dim) [2, 1, 32]", error, StringComparison.Ordinal);

        var wrong = Path.Combine(dir, "wrong.safetensors");
        SafetensorsWriter.Write(wrong, all.Select(p => p.Key == "output" ? new KeyValuePair<string, Tensor>(p.Key, Tensor.Zeros(DType.F32, new TensorShape(2, 4, 4, 20, 27))) : p));
        (code, _, error) = Run("verify", "unet", "--model", Fixtures.ComponentModel("unet-tiny"), "--io", wrong);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("'output' has shape [2, 4, 4, 20, 27]; expected (B, out_channels, F, H, W) [2, 4, 4, 20, 28]", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_folder_that_is_not_a_unet_exits_3_and_usage_errors_exit_2()
    {
        var (code, _, error) = Run("verify", "unet", "--model", Fixtures.ComponentModel("vae-tiny"), "--io", Fixtures.Path("unet-tiny", "io.safetensors"));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("no unet", error, StringComparison.Ordinal);

        Assert.Equal(ExitCodes.Usage, Run("verify", "--model", "x", "--io", "y").Code);
        Assert.Equal(ExitCodes.Usage, Run("verify", "transformer", "--model", "x", "--io", "y").Code);
        Assert.Equal(ExitCodes.Usage, Run("verify", "unet", "--model", "x", "--io", "y", "--device", "tpu").Code);
        Assert.Equal(ExitCodes.Usage, Run("verify", "unet", "--model", "x", "--io", "y", "--tolerance", "-1").Code);
        Assert.Equal(ExitCodes.BadInput, Run("verify", "unet", "--model", Fixtures.ComponentModel("unet-tiny"), "--io", "/nonexistent.safetensors").Code);
    }
}
