using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Support;

/// <summary>
/// Deterministic test inputs: a SplitMix64 generator (Steele, Lea and Flood 2014; the seeding generator of
/// xoshiro) that gives the same numbers on every machine and runtime, unlike <see cref="Random"/>.
/// </summary>
public sealed class TestData
{
    private ulong _state;

    /// <summary>A generator whose sequence is fixed by <paramref name="seed"/>.</summary>
    public TestData(ulong seed) => _state = seed;

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A float uniform in [-1, 1) on a grid of 2^-23 (the top 24 bits, so every value is exact).</summary>
    public float NextFloat() => ((NextUInt64() >> 40) * (1.0f / (1 << 23))) - 1.0f;

    /// <summary><paramref name="count"/> floats uniform in [-scale, scale).</summary>
    public float[] Floats(int count, float scale = 1f)
    {
        var values = new float[count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = NextFloat() * scale;
        }

        return values;
    }

    /// <summary>A new F32 host tensor of <paramref name="dims"/> with values uniform in [-1, 1).</summary>
    public Tensor Uniform(params int[] dims)
    {
        var shape = new TensorShape(dims);
        return Tensor.FromSpan<float>(Floats((int)shape.ElementCount), shape);
    }
}
