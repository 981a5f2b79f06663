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
        Assert.Contains("choices: guidance as one batch, feed-forward unchunked, spatial layers on every frame at once, VAE decode 16 frames at a time, every model kept loaded", output, StringComparison.Ordinal);
        Assert.Contains("50 steps of DDIMScheduler", output, StringComparison.Ordinal);
        Assert.Contains("image encoder and VAE encoder 1.30 GiB", output, StringComparison.Ordinal);
        Assert.Contains("1.00x the unconstrained plan's", output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_release_budget_that_fits_exits_0_and_one_that_cannot_exits_3_with_what_would_fit()
    {
        var (code, output, error) = Run("plan", "--memory-budget", "12GiB");
        Assert.True(code == ExitCodes.Success, output + error);
        Assert.Contains("of the 12.00 GiB budget: fits", output, StringComparison.Ordinal);
        Assert.Contains("VAE decode 2 frames at a time", output, StringComparison.Ordinal);

        (code, output, error) = Run("plan", "--memory-budget", "4GiB", "--height", "512", "--width", "512", "--frames", "48");
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("even with the smallest memory choices", error, StringComparison.Ordinal);
        Assert.Contains("What would fit in the ", error, StringComparison.Ordinal);
        Assert.Contains("; or a budget of ", error, StringComparison.Ordinal);

        // A budget below the overhead: no smaller video fits either, so the advice is the budget this one needs.
        (code, _, error) = Run("plan", "--memory-budget", "512MiB");
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("No smaller video fits this budget either; a budget of 4.76 GiB or more fits this one.", error, StringComparison.Ordinal);

        // The release default within 6 GiB: each model on the device only for its own stage (the encode stage cannot hold
        // the image encoders beside the UNet), the guided videos one after the other.
        (code, output, error) = Run("plan", "--memory-budget", "6GiB");
        Assert.True(code == ExitCodes.Success, output + error);
        Assert.Contains("of the 6.00 GiB budget: fits", output, StringComparison.Ordinal);
        Assert.Contains("each model loaded for its own stage only", output, StringComparison.Ordinal);

        // 512x512 within 4 GiB: each model for its own stage, the guided videos one after the other, spatial chunks.
        (code, output, error) = Run("plan", "--memory-budget", "4GiB", "--height", "512", "--width", "512");
        Assert.True(code == ExitCodes.Success, output + error);
        Assert.Contains("of the 4.00 GiB budget: fits", output, StringComparison.Ordinal);
    }

    [Fact]
    public void The_plan_counts_step_caching_with_one_shared_step_arena()
    {
        var (code, output, error) = Run("plan", "--height", "512", "--width", "512", "--cache-interval", "2");
        Assert.True(code == ExitCodes.Success, output + error);
        Assert.Contains("cached step arena ", output, StringComparison.Ordinal);
        Assert.Contains("in the same block", output, StringComparison.Ordinal);

        // Every other step cached: the loop counts the cached steps' launches, fewer than the full steps'.
        var (_, full, _) = Run("plan", "--height", "512", "--width", "512");
        Assert.True(Launches(output) < Launches(full), output + full);

        (code, _, error) = Run("plan", "--cache-interval", "2", "--cache-depth", "9");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--cache-depth must be 0 to 3", error, StringComparison.Ordinal);
    }

    /// <summary>The launches a plan's "cost:" line counts.</summary>
    private static long Launches(string output)
    {
        var line = output.Split('\n').Single(l => l.StartsWith("cost: ", StringComparison.Ordinal));
        return long.Parse(line["cost: ".Length..line.IndexOf(" launches", StringComparison.Ordinal)], System.Globalization.NumberStyles.AllowThousands, System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public void The_plan_counts_the_samplers_history()
    {
        var (code, output, error) = Run("plan", "--memory-budget", "12GiB", "--sampler", "dpmpp-2m", "--steps", "25");
        Assert.True(code == ExitCodes.Success, output + error);
        Assert.Contains("25 steps of DPMSolverMultistepScheduler", output, StringComparison.Ordinal);
        Assert.Contains("; sampler history ", output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_model_folder_is_planned_from_its_own_layout()
    {
        var (code, output, error) = Run("plan", "--model", Fixtures.PipelineTiny, "--height", "40", "--width", "56", "--frames", "2", "--memory-budget", "2GiB");
        Assert.True(code == ExitCodes.Success, output + error);
        Assert.Contains("56x40, 2 frames", output, StringComparison.Ordinal);
        Assert.Contains("fits", output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_refine_plans_its_low_pass_under_the_requested_sizes_weights()
    {
        var (code, output, error) = Run("plan", "--memory-budget", "8GiB", "--refine-from", "640x352", "--refine-strength", "0.4");
        Assert.True(code == ExitCodes.Success, output + error);
        var line = Line(output, "refine: ");
        Assert.Contains("the 50 steps at 640x352 first, under the same weights", line, StringComparison.Ordinal);
        Assert.Contains("then the last 20 at 1280x704, decoded at that size", line, StringComparison.Ordinal);
        Assert.DoesNotContain("VAE decode", line, StringComparison.Ordinal);

        // The low pass runs under the requested size's weight residency (encoders released at 8 GiB) and fits beside it.
        Assert.Contains("encoders released after use", line, StringComparison.Ordinal);
        var (_, full, _) = Run("plan", "--memory-budget", "8GiB");
        Assert.Equal(Line(full, "peak: "), Line(output, "peak: "));
    }

    private static string Line(string output, string start) => output.Split('\n').Single(l => l.StartsWith(start, StringComparison.Ordinal));

    [Theory]
    [InlineData("plan", "--refine-from", "640x300")]
    [InlineData("plan", "--refine-from", "1280x704")]
    [InlineData("plan", "--refine-from", "wide")]
    [InlineData("plan", "--refine-strength", "0.5")]
    [InlineData("plan", "--refine-from", "640x352", "--steps", "1", "--refine-strength", "0.5")]
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
