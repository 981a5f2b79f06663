using CudaI2V.Cli;
using CudaI2V.Cli.Commands.Verify;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Cli;

/// <summary>The verify contract's two ways of passing: absolute over everything, or relative tensor by tensor.</summary>
public sealed class VerifyReportTests
{
    private static Tensor Values(params float[] values) => Tensor.FromArray(values, values.Length);

    [Fact]
    public void A_relative_report_holds_each_tensor_to_its_own_bar()
    {
        // "large" is off by 1e-2 of its scale, "small" by 5e-2 of its own: together max_abs / max|expected| is only
        // 1e-2, but "small" alone is over the 2e-2 bar.
        var output = new StringWriter();
        var report = VerifyReport.Relative(output, 2e-2);
        report.Add("large", Values(101f, 50f), Values(100f, 50f));
        report.Add("small", Values(1.05f, 0.5f), Values(1f, 0.5f));

        Assert.Equal(ExitCodes.Failed, report.Finish());
        var lines = output.ToString().TrimEnd().Split('\n');
        Assert.StartsWith("over its bar: small max_rel=5.000e-02 > 2.000e-02", lines[^2], StringComparison.Ordinal);
        Assert.StartsWith("max_abs=1.000e+00 max_rel=5.000e-02 ", lines[^1], StringComparison.Ordinal);
        Assert.EndsWith("FAIL", lines[^1].TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_tensor_given_its_own_bar_passes_under_it()
    {
        var output = new StringWriter();
        var report = VerifyReport.Relative(output, 2e-2, new Dictionary<string, double> { ["small"] = 6e-2 });
        report.Add("large", Values(101f, 50f), Values(100f, 50f));
        report.Add("small", Values(1.05f, 0.5f), Values(1f, 0.5f));

        Assert.Equal(ExitCodes.Success, report.Finish());
        Assert.EndsWith("PASS", output.ToString().TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_nan_fails_a_relative_report()
    {
        var output = new StringWriter();
        var report = VerifyReport.Relative(output, 2e-2);
        report.Add("x", Values(float.NaN, 1f), Values(1f, 1f));

        Assert.Equal(ExitCodes.Failed, report.Finish());
    }

    [Fact]
    public void An_absolute_report_passes_on_the_largest_difference()
    {
        var output = new StringWriter();
        var report = new VerifyReport(output, 1e-3);
        report.Add("x", Values(1.0005f, 2f), Values(1f, 2f));

        Assert.Equal(ExitCodes.Success, report.Finish());
    }
}
