using CudaI2V.Kernels.Cpu;

namespace CudaI2V.Tests.Kernels;

public sealed class ErfTests
{
    [Fact]
    public void Evaluate_KnownValues_MatchToDoublePrecision()
    {
        (double X, double Erf)[] known =
        [
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (2.0, 0.9953222650189527),
            (-0.3, -0.3286267594591274),
            (3.5, 0.9999992569016276),
            (1e-3, 0.0011283787909692363),
        ];

        foreach (var (x, expected) in known)
        {
            var actual = Erf.Evaluate(x);
            Assert.True(
                Math.Abs(actual - expected) <= 1e-15 * Math.Abs(expected),
                $"erf({x}) = {actual:R}, expected {expected:R}.");
        }
    }

    [Fact]
    public void Evaluate_AgreesWithPositiveTermSeries_OnEveryInterval()
    {
        // Step 1/64 covers the three approximation intervals and their edges (0.46875 = 30/64, 4 = 256/64).
        for (var i = -384; i <= 384; i++)
        {
            var x = i / 64.0;
            var expected = Naive.Erf(x);
            var actual = Erf.Evaluate(x);
            Assert.True(
                Math.Abs(actual - expected) <= 1e-13 * Math.Abs(expected),
                $"erf({x}) = {actual:R}, series gives {expected:R}.");
        }
    }

    [Fact]
    public void Evaluate_IsOdd()
    {
        for (var i = 0; i <= 1000; i++)
        {
            var x = i * 0.00731;
            Assert.Equal(-Erf.Evaluate(x), Erf.Evaluate(-x));
        }
    }

    [Fact]
    public void Evaluate_IsMonotoneAndBoundedByOne()
    {
        var previous = Erf.Evaluate(-8);
        for (var i = -7999; i <= 8000; i++)
        {
            var current = Erf.Evaluate(i / 1000.0);
            Assert.True(current >= previous, $"erf decreases at {i / 1000.0}.");
            Assert.True(Math.Abs(current) <= 1, $"|erf({i / 1000.0})| > 1.");
            previous = current;
        }
    }

    [Fact]
    public void Evaluate_Limits()
    {
        Assert.Equal(0.0, Erf.Evaluate(0.0));
        Assert.Equal(1.0, Erf.Evaluate(6.0), 15);
        Assert.Equal(1.0, Erf.Evaluate(30.0));
        Assert.Equal(-1.0, Erf.Evaluate(-30.0));
        Assert.Equal(1.0, Erf.Evaluate(double.PositiveInfinity));
        Assert.Equal(-1.0, Erf.Evaluate(double.NegativeInfinity));
        Assert.True(double.IsNaN(Erf.Evaluate(double.NaN)));

        // Near zero erf(x) = 2x/sqrt(pi) (1 - x^2/3 + ...).
        foreach (var x in new[] { 1e-300, 1e-20, 1e-10, -1e-10 })
        {
            Assert.Equal(2 * x / Math.Sqrt(Math.PI), Erf.Evaluate(x), 1e-15 * Math.Abs(x));
        }
    }
}
