using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels;

/// <summary>
/// Helpers for the naive references the op tests compare against: values in double and layout changes by
/// explicit index arithmetic, written independently of the ops under test.
/// </summary>
internal static class Naive
{
    /// <summary>The tensor's values widened to double, in row-major order.</summary>
    public static double[] Values(Tensor t) => Array.ConvertAll(t.ToFloat32Array(), v => (double)v);

    /// <summary>Channels-last (N, H, W, C) values reordered to (N, C, H, W).</summary>
    public static double[] NhwcToNchw(double[] x, int n, int h, int w, int c)
    {
        var y = new double[x.Length];
        for (var i = 0; i < n; i++)
        {
            for (var yy = 0; yy < h; yy++)
            {
                for (var xx = 0; xx < w; xx++)
                {
                    for (var ch = 0; ch < c; ch++)
                    {
                        y[(((i * c) + ch) * h + yy) * w + xx] = x[(((i * h) + yy) * w + xx) * c + ch];
                    }
                }
            }
        }

        return y;
    }

    /// <summary>(N, C, H, W) values reordered to channels-last (N, H, W, C).</summary>
    public static double[] NchwToNhwc(double[] x, int n, int c, int h, int w)
    {
        var y = new double[x.Length];
        for (var i = 0; i < n; i++)
        {
            for (var ch = 0; ch < c; ch++)
            {
                for (var yy = 0; yy < h; yy++)
                {
                    for (var xx = 0; xx < w; xx++)
                    {
                        y[(((i * h) + yy) * w + xx) * c + ch] = x[(((i * c) + ch) * h + yy) * w + xx];
                    }
                }
            }
        }

        return y;
    }

    /// <summary>
    /// erf in double by the everywhere-convergent series of positive terms
    /// erf(x) = 2/sqrt(pi) exp(-x^2) sum over n of 2^n x^(2n+1) / (1 * 3 * ... * (2n+1)),
    /// independent of the rational approximation under test; about 1e-15 relative for |x| &lt;= 6.
    /// </summary>
    public static double Erf(double x)
    {
        var term = x;
        var sum = x;
        for (var n = 1; n < 500 && Math.Abs(term) > 1e-18 * Math.Abs(sum); n++)
        {
            term *= 2 * x * x / ((2 * n) + 1);
            sum += term;
        }

        return 2 / Math.Sqrt(Math.PI) * Math.Exp(-x * x) * sum;
    }

    /// <summary>Exact GELU in double, x * Phi(x), using <see cref="Erf(double)"/>.</summary>
    public static double Gelu(double x) => x * 0.5 * (1 + Erf(x / Math.Sqrt(2)));
}
