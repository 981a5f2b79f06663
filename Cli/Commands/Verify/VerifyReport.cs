using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Cli.Commands.Verify;

/// <summary>
/// The output contract of every <c>cudai2v verify</c> command: one line per compared tensor, then as the last
/// line of stdout <c>max_abs=… max_rel=… nmse=… PASS</c> (or FAIL) over all of them; PASS when max_abs is at
/// most the tolerance. Exit code 0 on PASS, 1 on FAIL.
/// </summary>
internal sealed class VerifyReport(TextWriter output, double tolerance, bool relative = false)
{
    private readonly List<TensorComparison> _results = [];

    /// <summary>A report that passes on max_rel (max_abs / max |expected|) instead of max_abs: fp16 on the GPU.</summary>
    public static VerifyReport Relative(TextWriter output, double maxRel) => new(output, maxRel, relative: true);

    /// <summary>Compares one tensor and prints its line.</summary>
    public void Add(string name, Tensor actual, Tensor expected)
    {
        var result = TensorComparison.Compare(actual, expected);
        _results.Add(result);
        output.WriteLine($"{name} {expected.Shape}: {result}");
    }

    /// <summary>Prints the final line; returns the exit code.</summary>
    public int Finish()
    {
        var total = TensorComparison.Combine(_results);
        var pass = _results.Count > 0 && (relative ? total.MaxRel <= tolerance : total.Passes(tolerance));
        output.WriteLine($"{total} {(pass ? "PASS" : "FAIL")}");
        return pass ? ExitCodes.Success : ExitCodes.Failed;
    }
}
