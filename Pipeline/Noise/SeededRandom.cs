using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Noise;

/// <summary>
/// CudaI2V's own seeded random numbers: the same seed gives the same bits on every machine, OS and .NET runtime.
/// The generator is xoshiro256** (state seeded from the 64-bit seed by SplitMix64), an integer-only algorithm.
/// Standard-normal values come from Marsaglia's polar method, which needs only +, -, *, /, sqrt and a logarithm;
/// IEEE 754 rounds the first five exactly and .NET never fuses them into multiply-adds, and the logarithm is
/// computed here from those operations too (<see cref="Log"/>) rather than by the platform's libm, whose last bit
/// may differ between systems. So every value is reproducible bit for bit.
/// </summary>
/// <remarks>
/// Not thread-safe: one instance is one sequence. The sequence does not match torch's generator (no engine can
/// cheaply); parity tests with diffusers feed its noise in explicitly.
/// </remarks>
public sealed class SeededRandom
{
    private ulong _s0, _s1, _s2, _s3;
    private double _spareNormal;
    private bool _hasSpare;

    /// <summary>A generator at the start of the sequence of <paramref name="seed"/>.</summary>
    public SeededRandom(ulong seed)
    {
        var x = seed;
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
    }

    /// <summary>The next 64 uniformly distributed bits (xoshiro256**).</summary>
    public ulong NextUInt64()
    {
        var result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        var t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>A uniform double in [0, 1): the top 53 bits of <see cref="NextUInt64"/> times 2^-53 (exact).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>A standard-normal double (mean 0, variance 1); values come in pairs from the polar method.</summary>
    public double NextStandardNormal()
    {
        if (_hasSpare)
        {
            _hasSpare = false;
            return _spareNormal;
        }

        double u, v, s;
        do
        {
            u = (2 * NextDouble()) - 1;
            v = (2 * NextDouble()) - 1;
            s = (u * u) + (v * v);
        }
        while (s >= 1 || s == 0);

        var factor = Math.Sqrt(-2 * Log(s) / s);
        _spareNormal = v * factor;
        _hasSpare = true;
        return u * factor;
    }

    /// <summary>Fills <paramref name="destination"/> with standard-normal values, in order, each rounded to float.</summary>
    public void FillStandardNormal(Span<float> destination)
    {
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = (float)NextStandardNormal();
        }
    }

    /// <summary>A new F32 host tensor of <paramref name="shape"/> filled in row-major order by <see cref="FillStandardNormal"/>.</summary>
    public Tensor StandardNormal(TensorShape shape)
    {
        var tensor = Tensor.Zeros(DType.F32, shape);
        FillStandardNormal(tensor.AsSpan<float>());
        return tensor;
    }

    private static ulong SplitMix64(ref ulong state)
    {
        var z = state += 0x9E3779B97F4A7C15;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }

    /// <summary>
    /// ln x for a positive normal double, from exactly rounded operations only: x = m * 2^e with m in
    /// [sqrt(1/2), sqrt(2)) (bit manipulation, exact), then ln m = 2 atanh(r) with r = (m - 1) / (m + 1), |r| &lt; 0.1716,
    /// summed as 2 r (1 + r^2/3 + r^4/5 + ... + r^24/25), whose remainder is below 1e-19. Accurate to a few ulp.
    /// </summary>
    private static double Log(double x)
    {
        const double Ln2 = 0.6931471805599453;
        const double Sqrt2 = 1.4142135623730951;
        var bits = BitConverter.DoubleToInt64Bits(x);
        var exponent = (int)((bits >> 52) & 0x7FF) - 1023;
        var m = BitConverter.Int64BitsToDouble((bits & 0x000F_FFFF_FFFF_FFFFL) | 0x3FF0_0000_0000_0000L);
        if (m >= Sqrt2)
        {
            m *= 0.5;
            exponent++;
        }

        var r = (m - 1) / (m + 1);
        var r2 = r * r;
        var series = 0.0;
        for (var k = 12; k >= 1; k--)
        {
            series = (series + (1.0 / ((2 * k) + 1))) * r2;
        }

        return (exponent * Ln2) + (2 * r * (1 + series));
    }
}
