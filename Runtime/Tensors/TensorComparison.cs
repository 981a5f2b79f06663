using System.Globalization;

namespace CudaI2V.Runtime.Tensors;

/// <summary>
/// How far an actual tensor is from an expected one: the largest absolute difference, that divided by the
/// largest |expected| (max_rel), and the normalised mean squared error sum (a - e)^2 / sum e^2 (nmse).
/// Results of several tensors combine into one. A NaN or infinity in the actual values makes every figure NaN,
/// so no tolerance passes it.
/// </summary>
public sealed record TensorComparison(double MaxAbs, double MaxExpected, double SumSquaredError, double SumSquaredExpected, long WorstIndex, long Count)
{
    /// <summary>max_abs / max |expected|.</summary>
    public double MaxRel => MaxExpected > 0 ? MaxAbs / MaxExpected : (MaxAbs == 0 ? 0 : double.PositiveInfinity);

    /// <summary>sum (a - e)^2 / sum e^2.</summary>
    public double Nmse => SumSquaredExpected > 0 ? SumSquaredError / SumSquaredExpected : (SumSquaredError == 0 ? 0 : double.PositiveInfinity);

    /// <summary>True when <see cref="MaxAbs"/> is at most <paramref name="tolerance"/> (false for NaN).</summary>
    public bool Passes(double tolerance) => MaxAbs <= tolerance;

    /// <summary>Compares two equally long spans.</summary>
    public static TensorComparison Compare(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        if (actual.Length != expected.Length)
        {
            throw new ArgumentException($"Cannot compare {actual.Length} values with {expected.Length}.", nameof(actual));
        }

        double maxAbs = 0, maxExpected = 0, sse = 0, sse0 = 0;
        long worst = -1;
        for (var i = 0; i < actual.Length; i++)
        {
            double a = actual[i], e = expected[i], d = a - e;
            if (!double.IsFinite(a))
            {
                return new TensorComparison(double.NaN, double.NaN, double.NaN, double.NaN, i, actual.Length);
            }

            if (Math.Abs(d) > maxAbs)
            {
                maxAbs = Math.Abs(d);
                worst = i;
            }

            maxExpected = Math.Max(maxExpected, Math.Abs(e));
            sse += d * d;
            sse0 += e * e;
        }

        return new TensorComparison(maxAbs, maxExpected, sse, sse0, worst, actual.Length);
    }

    /// <summary>Compares two host tensors of the same shape (any float dtype).</summary>
    public static TensorComparison Compare(Tensor actual, Tensor expected)
    {
        ArgumentNullException.ThrowIfNull(actual);
        ArgumentNullException.ThrowIfNull(expected);
        if (actual.Shape != expected.Shape)
        {
            throw new ArgumentException($"Cannot compare shape {actual.Shape} with {expected.Shape}.", nameof(actual));
        }

        return Compare(actual.ToFloat32Array(), expected.ToFloat32Array());
    }

    /// <summary>The figures over several comparisons together.</summary>
    public static TensorComparison Combine(IEnumerable<TensorComparison> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        var list = parts.ToList();
        if (list.Any(p => double.IsNaN(p.MaxAbs)))
        {
            return new TensorComparison(double.NaN, double.NaN, double.NaN, double.NaN, -1, list.Sum(p => p.Count));
        }

        return new TensorComparison(
            list.Count == 0 ? 0 : list.Max(p => p.MaxAbs),
            list.Count == 0 ? 0 : list.Max(p => p.MaxExpected),
            list.Sum(p => p.SumSquaredError),
            list.Sum(p => p.SumSquaredExpected),
            -1,
            list.Sum(p => p.Count));
    }

    /// <summary>A number as the verify contract prints it: invariant culture, "1.234e-05".</summary>
    public static string Format(double value) =>
        double.IsNaN(value) ? "nan" : double.IsInfinity(value) ? "inf" : value.ToString("0.000e+00", CultureInfo.InvariantCulture);

    /// <summary>"max_abs=… max_rel=… nmse=…".</summary>
    public override string ToString() => $"max_abs={Format(MaxAbs)} max_rel={Format(MaxRel)} nmse={Format(Nmse)}";
}
