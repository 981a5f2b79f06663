using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Cli.Commands.Verify;

/// <summary>
/// The output contract of every <c>cudai2v verify</c> command: one line per compared tensor, then as the last
/// line of stdout <c>max_abs=… max_rel=… nmse=… PASS</c> (or FAIL) over all of them. Exit code 0 on PASS, 1 on FAIL.
/// <list type="bullet">
/// <item>Absolute (the CPU, or <c>--tolerance</c>): PASS when the largest max_abs is at most the tolerance.</item>
/// <item>Relative (the GPU): each tensor is held to its own bar on its max_rel (max_abs over its own largest
/// |expected|), so a small tensor cannot hide behind a large one; the last line's max_rel is then the largest of
/// the lines' max_rel, and a line before it names each tensor over its bar.</item>
/// </list>
/// </summary>
internal sealed class VerifyReport
{
    private readonly TextWriter _output;
    private readonly double _tolerance;
    private readonly bool _relative;
    private readonly IReadOnlyDictionary<string, double> _bars;
    private readonly List<(string Name, TensorComparison Result)> _results = [];

    /// <summary>An absolute report: PASS when every max_abs is at most <paramref name="tolerance"/>.</summary>
    public VerifyReport(TextWriter output, double tolerance)
        : this(output, tolerance, relative: false, new Dictionary<string, double>())
    {
    }

    private VerifyReport(TextWriter output, double tolerance, bool relative, IReadOnlyDictionary<string, double> bars)
    {
        _output = output;
        _tolerance = tolerance;
        _relative = relative;
        _bars = bars;
    }

    /// <summary>
    /// A report that holds each tensor's max_rel to <paramref name="maxRel"/>, or to its entry in
    /// <paramref name="bars"/> (by the name given to <see cref="Add"/>): fp16 and bf16 on the GPU.
    /// </summary>
    public static VerifyReport Relative(TextWriter output, double maxRel, IReadOnlyDictionary<string, double>? bars = null) =>
        new(output, maxRel, relative: true, bars ?? new Dictionary<string, double>());

    /// <summary>Compares one tensor and prints its line.</summary>
    public void Add(string name, Tensor actual, Tensor expected)
    {
        var result = TensorComparison.Compare(actual, expected);
        _results.Add((name, result));
        _output.WriteLine($"{name} {expected.Shape}: {result}");
    }

    /// <summary>Prints the final line; returns the exit code.</summary>
    public int Finish()
    {
        var total = TensorComparison.Combine(_results.Select(r => r.Result));
        if (!_relative)
        {
            var passes = _results.Count > 0 && total.Passes(_tolerance);
            _output.WriteLine($"{total} {(passes ? "PASS" : "FAIL")}");
            return passes ? ExitCodes.Success : ExitCodes.Failed;
        }

        var over = _results.Where(r => !(r.Result.MaxRel <= Bar(r.Name))).ToList(); // NaN is over every bar
        var worst = _results.Count == 0 ? 0 : _results.Max(r => double.IsNaN(r.Result.MaxRel) ? double.PositiveInfinity : r.Result.MaxRel);
        var pass = _results.Count > 0 && over.Count == 0;
        foreach (var (name, result) in over)
        {
            _output.WriteLine($"over its bar: {name} max_rel={TensorComparison.Format(result.MaxRel)} > {TensorComparison.Format(Bar(name))}");
        }

        _output.WriteLine($"max_abs={TensorComparison.Format(total.MaxAbs)} max_rel={TensorComparison.Format(worst)} nmse={TensorComparison.Format(total.Nmse)} {(pass ? "PASS" : "FAIL")}");
        return pass ? ExitCodes.Success : ExitCodes.Failed;
    }

    private double Bar(string name) => _bars.TryGetValue(name, out var bar) ? bar : _tolerance;
}
