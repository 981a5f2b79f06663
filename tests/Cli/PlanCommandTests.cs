using CudaI2V.Cli;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Cli;

/// <summary><c>cudai2v plan</c> (no GPU) and <c>generate --memory-budget</c>: exits, the plan's lines, bad sizes.</summary>
public sealed class PlanCommandTests
{
    [Fact]
    public void The_release_plan_without_a_budget_is_the_unconstrained_one()
    {
        var (code, output, error) = Run("plan");
        Assert.True(code == ExitCodes.Success, output + error);
        Assert.Contains("1280x704, 16 frames", output, StringComparison.Ordinal);
        Assert.Contains("the release layout", output, StringComparison.Ordinal);
        Assert.Contains("choices: guidance as one batch, feed-forward unchunked, VAE decode 16 frames at a time", output, StringComparison.Ordinal);
        Assert.Contains("1.00x the unconstrained plan's", output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_release_budget_that_fits_exits_0_and_one_that_cannot_exits_3_with_what_would_fit()
    {
        var (code, output, error) = Run("plan", "--memory-budget", "12GiB");
        Assert.True(code == ExitCodes.Success, output + error);
        Assert.Contains("of the 12.00 GiB budget: fits", output, StringComparison.Ordinal);
        Assert.Contains("VAE decode 2 frames at a time", output, StringComparison.Ordinal);

        (code, output, error) = Run("plan", "--memory-budget", "4GiB", "--height", "512", "--width", "512");
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("even with the smallest memory choices", error, StringComparison.Ordinal);
        Assert.Contains("Nothing smaller fits", error, StringComparison.Ordinal);

        (code, output, error) = Run("plan", "--memory-budget", "6GiB");
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("What would fit in the ", error, StringComparison.Ordinal);
        Assert.Contains("; or a budget of 7.28 GiB or more for this video.", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_model_folder_is_planned_from_its_own_layout()
    {
        var (code, output, error) = Run("plan", "--model", Fixtures.PipelineTiny, "--height", "40", "--width", "56", "--frames", "2", "--memory-budget", "2GiB");
        Assert.True(code == ExitCodes.Success, output + error);
        Assert.Contains("56x40, 2 frames", output, StringComparison.Ordinal);
        Assert.Contains("fits", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("plan", "--memory-budget", "lots")]
    [InlineData("plan", "--memory-budget", "0")]
    [InlineData("plan", "--height", "41")]
    [InlineData("generate", "--demo", "--memory-budget", "12XB")]
    public void Bad_options_exit_2_naming_the_option(params string[] args)
    {
        var (code, _, error) = Run(args);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains(args[^2], error, StringComparison.Ordinal);
    }

    [Fact]
    public void Generate_prints_its_memory_plan()
    {
        var dir = Fixtures.TempFolder("plan-generate");
        var (code, _, error) = Run("generate", "--demo", "--out", Path.Combine(dir, "demo.gif"), "--cache-dir", Path.Combine(dir, "cache"), "--seed", "1", "--memory-budget", "4GiB", "--device", "cpu");
        Assert.True(code == ExitCodes.Success, error);
        Assert.Contains("memory plan: peak ", error, StringComparison.Ordinal);
        Assert.Contains("of a 4.00 GiB budget", error, StringComparison.Ordinal);
    }
}
