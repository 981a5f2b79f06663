using CudaI2V.Pipeline.Noise;

namespace CudaI2V.Tests.Fuzz;

/// <summary>The fuzzer's draws, from the in-repo seeded generator: case <c>i</c> of seed <c>s</c> is the same on every machine.</summary>
public sealed class FuzzRandom(ulong seed, int index)
{
    private readonly SeededRandom _random = new(seed * 0x9E3779B97F4A7C15UL ^ ((ulong)index + 1) * 0xBF58476D1CE4E5B9UL);

    /// <summary>An integer in [0, <paramref name="count"/>).</summary>
    public int Next(int count) => (int)(_random.NextUInt64() % (ulong)count);

    /// <summary>True with probability <paramref name="p"/>.</summary>
    public bool Chance(double p) => _random.NextDouble() < p;

    /// <summary>One of <paramref name="items"/>.</summary>
    public T Pick<T>(IReadOnlyList<T> items) => items[Next(items.Count)];

    /// <summary>A raw 64-bit draw.</summary>
    public ulong NextUInt64() => _random.NextUInt64();
}
