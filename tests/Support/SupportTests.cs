using CudaI2V.Runtime.Tensors;
using Xunit.Sdk;

namespace CudaI2V.Tests.Support;

/// <summary>The test helpers themselves: the generator's sequence and the tolerance's failure report.</summary>
public sealed class SupportTests
{
    [Fact]
    public void TestData_SplitMix64_GivesTheReferenceSequence()
    {
        // The published SplitMix64 outputs for seed 0.
        var data = new TestData(0);
        Assert.Equal(0xE220A8397B1DCDAFUL, data.NextUInt64());
        Assert.Equal(0x6E789E6AA1B965F4UL, data.NextUInt64());
        Assert.Equal(0x06C45D188009454FUL, data.NextUInt64());
    }

    [Fact]
    public void TestData_Floats_AreInMinusOneToOne_AndRepeatable()
    {
        var a = new TestData(42).Floats(10000);
        var b = new TestData(42).Floats(10000);

        Assert.Equal(a, b);
        Assert.All(a, v => Assert.InRange(v, -1f, 0.99999994f));
        Assert.Equal(0.48312974f, a[0]);
    }

    [Fact]
    public void Tolerance_Failure_NamesWorstIndexAndValues()
    {
        var actual = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6.5f }, 1, 2, 3);
        double[] expected = [1, 2.1, 3, 4, 5, 6];

        var error = Assert.Throws<FailException>(() => Tolerance.Fp32.AssertClose(expected, actual, "demo"));

        Assert.Contains("2 of 6 elements", error.Message, StringComparison.Ordinal);
        Assert.Contains("Worst at [0, 1, 2] (#5): actual 6.5, expected 6", error.Message, StringComparison.Ordinal);
        Assert.Contains("[0, 0, 1] (#1) 2 vs 2.1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tolerance_NaN_NeverPasses()
    {
        var actual = Tensor.FromArray(new[] { float.NaN }, 1);
        Assert.Throws<FailException>(() => new Tolerance(1, 1, 1).AssertClose([0.0], actual));
    }

    [Fact]
    public void Tolerance_WithinBounds_Passes()
    {
        var actual = Tensor.FromArray(new[] { 1.000001f, -2f }, 2);
        Tolerance.Fp32.AssertClose([1.0, -2.0], actual);
    }
}
