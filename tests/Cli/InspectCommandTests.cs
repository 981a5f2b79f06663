using CudaI2V.Cli;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Cli;

public sealed class InspectCommandTests
{
    [Fact]
    public void Inspect_reports_every_component_of_the_tiny_pipeline()
    {
        var (code, output, error) = Run("inspect", "--model", Fixtures.PipelineTiny);
        Assert.True(code == ExitCodes.Success, error);
        Assert.Contains("unet: I2VGenXLUNet", output, StringComparison.Ordinal);
        Assert.Contains("parameters: 3,663,400 in", output, StringComparison.Ordinal);
        Assert.Contains("dtypes F32", output, StringComparison.Ordinal);
        Assert.Contains("head dim: 8 (from attention_head_dim)", output, StringComparison.Ordinal);
        foreach (var component in new[] { "vae: AutoencoderKL", "text_encoder: CLIPTextModel", "image_encoder: CLIPVisionModelWithProjection", "tokenizer: CLIPTokenizer", "feature_extractor: CLIPImageProcessor", "scheduler: DDIMScheduler" })
        {
            Assert.Contains(component, output, StringComparison.Ordinal);
        }

        Assert.Empty(error);
    }

    [Fact]
    public void Inspect_accepts_a_single_component_folder()
    {
        var (code, output, _) = Run("inspect", "--model", Fixtures.ComponentModel("unet-odd"));
        Assert.Equal(ExitCodes.Success, code);
        Assert.Contains("parameters: 4,125,096 in", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Inspect_reports_a_broken_component_and_exits_3()
    {
        var folder = Fixtures.TempFolder("inspect-broken");
        Fixtures.CopyTree(Fixtures.Path("pipeline-tiny", "model"), folder);
        var (code, output, error) = Run("inspect", "--model", folder);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("unet: unreadable", output, StringComparison.Ordinal);
        Assert.Contains("No unet weights", error, StringComparison.Ordinal);
        Assert.Contains("scheduler: DDIMScheduler", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Exit_codes_follow_the_contract()
    {
        Assert.Equal(ExitCodes.Usage, Run().Code);
        Assert.Equal(ExitCodes.Usage, Run("frobnicate").Code);
        Assert.Equal(ExitCodes.Usage, Run("inspect").Code);
        Assert.Equal(ExitCodes.Usage, Run("inspect", "--model").Code);
        Assert.Equal(ExitCodes.Usage, Run("inspect", "--model", "x", "--bogus", "1").Code);
        Assert.Equal(ExitCodes.Usage, Run("inspect", "--model", "x", "--variant", "fp8").Code);
        var missing = Run("inspect", "--model", "/nonexistent/model");
        Assert.Equal(ExitCodes.BadInput, missing.Code);
        Assert.Contains("/nonexistent/model", missing.Err, StringComparison.Ordinal);
        Assert.Empty(missing.Out);
    }

    [Fact]
    public void Help_is_complete_for_the_tool_and_each_command()
    {
        var (code, output, _) = Run("--help");
        Assert.Equal(ExitCodes.Success, code);
        foreach (var command in CliApp.Commands)
        {
            Assert.Contains(command.Name, output, StringComparison.Ordinal);
            var help = Run(command.Name, "--help");
            Assert.Equal(ExitCodes.Success, help.Code);
            foreach (var option in command.Options)
            {
                Assert.Contains("--" + option.Name, help.Out, StringComparison.Ordinal);
            }

            Assert.Contains("Exit codes", help.Out, StringComparison.Ordinal);
            Assert.Equal(help.Out, Run("help", command.Name).Out);
        }
    }
}
