using CudaI2V.Cli;
using CudaI2V.Pipeline.Engine;

namespace CudaI2V.Tests.Cli;

/// <summary>The progress lines of <c>generate</c>: plain lines off a terminal, no rate before a step ends, h:mm:ss.</summary>
public sealed class ProgressPrinterTests
{
    private static GenerationProgress At(GenerationStage stage, int step, int total, double seconds, int ops = 0, int opsTotal = 0) =>
        new(stage, step, total, TimeSpan.FromSeconds(seconds), ops, opsTotal);

    [Fact]
    public void Off_a_terminal_it_writes_plain_lines_and_inside_a_step_at_most_one_per_interval()
    {
        var output = new StringWriter { NewLine = "\n" };
        var printer = new ProgressPrinter(output, terminal: false);
        var interval = ProgressPrinter.PlainInterval.TotalSeconds;
        printer.Report(At(GenerationStage.Denoising, 0, 10, 0));
        printer.Report(At(GenerationStage.Denoising, 0, 10, 1, 10, 100));                 // too soon after the last line
        printer.Report(At(GenerationStage.Denoising, 0, 10, interval + 1, 50, 100));      // printed
        printer.Report(At(GenerationStage.Denoising, 1, 10, interval + 2));               // a finished step is always printed
        printer.Report(At(GenerationStage.Decoding, 0, 2, interval + 3));
        printer.Finish();

        var text = output.ToString();
        Assert.DoesNotContain("\r", text, StringComparison.Ordinal);
        var lines = text.TrimEnd('\n').Split('\n');
        Assert.Equal(4, lines.Length);
        Assert.StartsWith("denoising", lines[0], StringComparison.Ordinal);
        Assert.Contains("0/10 (step 1: 50% of its ops)", lines[1], StringComparison.Ordinal);
        Assert.Contains("1/10", lines[2], StringComparison.Ordinal);
        Assert.StartsWith("decoding", lines[3], StringComparison.Ordinal);
    }

    [Fact]
    public void No_rate_or_time_left_before_a_step_has_finished()
    {
        var start = ProgressPrinter.Describe(At(GenerationStage.Denoising, 0, 10, 30, 5, 10), TimeSpan.FromSeconds(30));
        Assert.DoesNotContain("left", start, StringComparison.Ordinal);
        Assert.DoesNotContain("/s", start, StringComparison.Ordinal);

        var later = ProgressPrinter.Describe(At(GenerationStage.Denoising, 1, 10, 60), TimeSpan.FromSeconds(60));
        Assert.Contains("60.0 s/step, about 0:09:00 left", later, StringComparison.Ordinal);
    }

    [Fact]
    public void Durations_are_hours_minutes_seconds_and_do_not_wrap_past_an_hour()
    {
        var line = ProgressPrinter.Describe(At(GenerationStage.Denoising, 1, 50, 0), TimeSpan.FromMinutes(10));
        Assert.Contains("elapsed 0:10:00", line, StringComparison.Ordinal);
        Assert.Contains("about 8:10:00 left", line, StringComparison.Ordinal);
        Assert.Equal("26:03:04", RunEstimate.Format(new TimeSpan(1, 2, 3, 4)));
    }

    [Fact]
    public void On_a_terminal_it_redraws_one_line_per_stage()
    {
        var output = new StringWriter { NewLine = "\n" };
        var printer = new ProgressPrinter(output, terminal: true);
        printer.Report(At(GenerationStage.Denoising, 0, 2, 0));
        printer.Report(At(GenerationStage.Denoising, 1, 2, 1));
        printer.Report(At(GenerationStage.Decoding, 0, 2, 2));
        printer.Finish();
        var text = output.ToString();
        Assert.Equal(3, text.Count(c => c == '\r'));
        Assert.Equal(2, text.Count(c => c == '\n'));
    }
}
