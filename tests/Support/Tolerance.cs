using System.Globalization;
using System.Text;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Support;

/// <summary>
/// How close an actual result must be to an expected one. Every element must satisfy
/// |actual - expected| &lt;= <see cref="Absolute"/> + <see cref="Relative"/> * |expected| (NaN never does), and the
/// normalised mean squared error sum((actual - expected)^2) / max(sum(expected^2), tiny) must be at most
/// <see cref="NormalizedMse"/>. A failure names the worst element (by how far it exceeds its bound), its
/// values, and the first few mismatches, with multi-dimensional indices when a shape is given.
/// </summary>
/// <param name="Absolute">Allowed absolute difference per element.</param>
/// <param name="Relative">Allowed difference per element, as a fraction of |expected|.</param>
/// <param name="NormalizedMse">Allowed normalised mean squared error over the whole tensor.</param>
public sealed record Tolerance(double Absolute, double Relative, double NormalizedMse)
{
    private const int MismatchesShown = 5;

    /// <summary>
    /// fp32 results against a double-precision reference on small, unit-scale inputs: a few float roundings
    /// per element, with headroom for dot products of a few hundred terms.
    /// </summary>
    public static Tolerance Fp32 { get; } = new(1e-5, 1e-5, 1e-10);

    /// <summary>Bit-for-bit equality (copies and rearrangements).</summary>
    public static Tolerance Exact { get; } = new(0, 0, 0);

    /// <summary>Asserts that <paramref name="actual"/> (an F32 host tensor) matches <paramref name="expected"/>.</summary>
    public void AssertClose(ReadOnlySpan<double> expected, Tensor actual, string what = "result")
    {
        ArgumentNullException.ThrowIfNull(actual);
        AssertClose(expected, actual.ToFloat32Array(), actual.Shape, what);
    }

    /// <summary>Asserts that <paramref name="actual"/> matches <paramref name="expected"/> (same element order).</summary>
    public void AssertClose(Tensor expected, Tensor actual, string what = "result")
    {
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(actual);
        Assert.True(expected.Shape == actual.Shape, $"{what}: shape {actual.Shape}, expected {expected.Shape}.");
        var reference = Array.ConvertAll(expected.ToFloat32Array(), v => (double)v);
        AssertClose(reference, actual.ToFloat32Array(), actual.Shape, what);
    }

    /// <summary>
    /// Asserts elementwise and normalised-MSE closeness. <paramref name="shape"/>, when given, is used to print
    /// multi-dimensional indices.
    /// </summary>
    public void AssertClose(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual, TensorShape? shape = null, string what = "result")
    {
        Assert.True(
            expected.Length == actual.Length,
            $"{what}: {actual.Length} elements, expected {expected.Length}.");

        var mismatches = new List<int>();
        var worst = -1;
        var worstExcess = 0.0;
        double errorSquares = 0, referenceSquares = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            var difference = Math.Abs(actual[i] - expected[i]);
            var bound = Absolute + (Relative * Math.Abs(expected[i]));
            errorSquares += difference * difference;
            referenceSquares += expected[i] * expected[i];
            var excess = double.IsNaN(difference) ? double.PositiveInfinity : difference - bound;
            if (excess > 0)
            {
                mismatches.Add(i);
                if (worst < 0 || excess > worstExcess)
                {
                    (worst, worstExcess) = (i, excess);
                }
            }
        }

        var nmse = errorSquares / Math.Max(referenceSquares, double.Epsilon);
        if (double.IsNaN(nmse) && mismatches.Count == 0)
        {
            nmse = 0;
        }

        if (mismatches.Count == 0 && nmse <= NormalizedMse)
        {
            return;
        }

        var message = new StringBuilder();
        message.Append(CultureInfo.InvariantCulture, $"{what}: {mismatches.Count} of {expected.Length} elements outside ");
        message.Append(CultureInfo.InvariantCulture, $"abs {Absolute:G3} + rel {Relative:G3}; NMSE {nmse:G3} (allowed {NormalizedMse:G3}).");
        if (worst >= 0)
        {
            message.Append(CultureInfo.InvariantCulture, $" Worst at {FormatIndex(worst, shape)}: actual {actual[worst]:G9}, expected {expected[worst]:G9}.");
            message.Append(" First mismatches:");
            foreach (var i in mismatches.Take(MismatchesShown))
            {
                message.Append(CultureInfo.InvariantCulture, $" {FormatIndex(i, shape)} {actual[i]:G9} vs {expected[i]:G9};");
            }
        }

        Assert.Fail(message.ToString());
    }

    /// <summary>"[1, 0, 2, 3] (#27)" for a shaped tensor, "#27" otherwise.</summary>
    private static string FormatIndex(int flat, TensorShape? shape)
    {
        if (shape is null || shape.ElementCount == 0)
        {
            return string.Create(CultureInfo.InvariantCulture, $"#{flat}");
        }

        var index = new int[shape.Rank];
        var rest = flat;
        for (var d = shape.Rank - 1; d >= 0; d--)
        {
            index[d] = rest % shape[d];
            rest /= shape[d];
        }

        return string.Create(CultureInfo.InvariantCulture, $"{TensorShape.Format(index)} (#{flat})");
    }
}
