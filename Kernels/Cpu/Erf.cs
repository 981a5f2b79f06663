namespace CudaI2V.Kernels.Cpu;

/// <summary>
/// The error function in double precision, which .NET does not provide. W. J. Cody's rational Chebyshev
/// approximations ("Rational Chebyshev approximations for the error function", Math. Comp. 23, 1969,
/// 631-638; the CALERF routine of netlib's SPECFUN), accurate to about 1e-16 relative in three intervals:
/// erf itself for |x| &lt;= 0.46875, and erfc for 0.46875 &lt; |x| &lt;= 4 and |x| &gt; 4.
/// </summary>
public static class Erf
{
    private const double Threshold = 0.46875;

    // Below this, erf(x) = 2x/sqrt(pi) to double precision and x*x may underflow.
    private const double SmallArgument = 1.11e-16;

    // Above this, erfc(x) underflows and erf(x) is +-1 exactly.
    private const double LargeArgument = 26.543;

    // 1 / sqrt(pi).
    private const double InverseSqrtPi = 0.56418958354775628695;

    // erf(x) = x * A(x^2) / B(x^2) for |x| <= 0.46875.
    private static readonly double[] A =
        [3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03, 1.85777706184603153e-1];

    private static readonly double[] B =
        [2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03];

    // erfc(y) = exp(-y^2) * C(y) / D(y) for 0.46875 < y <= 4.
    private static readonly double[] C =
    [
        5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01, 2.98635138197400131e02,
        8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03,
        2.15311535474403846e-8,
    ];

    private static readonly double[] D =
    [
        1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
        3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03,
    ];

    // erfc(y) = exp(-y^2) / y * (1/sqrt(pi) - z * P(z) / Q(z)) with z = 1 / y^2, for y > 4.
    private static readonly double[] P =
    [
        3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2,
        6.58749161529837803e-4, 1.63153871373020978e-2,
    ];

    private static readonly double[] Q =
        [2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1, 6.05183413124413191e-2, 2.33520497626869185e-3];

    /// <summary>erf(x) = 2/sqrt(pi) * integral from 0 to x of exp(-t^2) dt. Odd; erf(+-inf) = +-1; NaN stays NaN.</summary>
    public static double Evaluate(double x)
    {
        if (double.IsNaN(x))
        {
            return x;
        }

        var y = Math.Abs(x);
        if (y <= Threshold)
        {
            var ysq = y > SmallArgument ? y * y : 0.0;
            var num = A[4] * ysq;
            var den = ysq;
            for (var i = 0; i < 3; i++)
            {
                num = (num + A[i]) * ysq;
                den = (den + B[i]) * ysq;
            }

            return x * (num + A[3]) / (den + B[3]);
        }

        var erfc = y >= LargeArgument ? 0.0 : ErfcOfPositive(y);

        // (0.5 - erfc) + 0.5 loses less than 1 - erfc when erfc is close to 0.5.
        var erf = (0.5 - erfc) + 0.5;
        return x < 0 ? -erf : erf;
    }

    // erfc(y) for 0.46875 < y < 26.543.
    private static double ErfcOfPositive(double y)
    {
        double ratio;
        if (y <= 4.0)
        {
            var num = C[8] * y;
            var den = y;
            for (var i = 0; i < 7; i++)
            {
                num = (num + C[i]) * y;
                den = (den + D[i]) * y;
            }

            ratio = (num + C[7]) / (den + D[7]);
        }
        else
        {
            var z = 1.0 / (y * y);
            var num = P[5] * z;
            var den = z;
            for (var i = 0; i < 4; i++)
            {
                num = (num + P[i]) * z;
                den = (den + Q[i]) * z;
            }

            ratio = (InverseSqrtPi - (z * (num + P[4]) / (den + Q[4]))) / y;
        }

        // exp(-y^2) computed as exp(-r^2) * exp(-(y - r)(y + r)) with r = y rounded down to 1/16, so that
        // the rounding error of y*y is not magnified by the exponential.
        var rounded = Math.Truncate(y * 16.0) / 16.0;
        var rest = (y - rounded) * (y + rounded);
        return Math.Exp(-rounded * rounded) * Math.Exp(-rest) * ratio;
    }
}
