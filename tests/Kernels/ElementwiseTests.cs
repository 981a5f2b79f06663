using CudaI2V.Kernels.Cpu;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Kernels;

/// <summary>CpuOps activations (SiLU, exact GELU, quick GELU, GEGLU) and additions.</summary>
public sealed class ElementwiseTests
{
    private readonly CpuOps _ops = new();

    [Fact]
    public void Silu_MatchesFormula()
    {
        var x = Tensor.FromSpan<float>(new TestData(51).Floats(1000, scale: 12f), new TensorShape(10, 100));

        var actual = _ops.Silu(x);

        Tolerance.Fp32.AssertClose(Naive.Values(x).Select(v => v / (1 + Math.Exp(-v))).ToArray(), actual);
    }

    [Fact]
    public void Gelu_KnownValues()
    {
        // x * Phi(x) with the standard normal CDF Phi.
        var x = Tensor.FromArray(new float[] { 0, 1, -1, 0.5f, 2, -2 }, 6);

        var actual = _ops.Gelu(x);

        double[] expected =
        [
            0, 0.8413447460685429, -0.15865525393145707, 0.5 * 0.6914624612740131, 2 * 0.9772498680518208,
            -2 * 0.022750131948179195,
        ];
        Tolerance.Fp32.AssertClose(expected, actual);
    }

    [Fact]
    public void Gelu_MatchesErfFormula()
    {
        var x = Tensor.FromSpan<float>(new TestData(52).Floats(999, scale: 7f), new TensorShape(999));

        var actual = _ops.Gelu(x);

        Tolerance.Fp32.AssertClose(Naive.Values(x).Select(Naive.Gelu).ToArray(), actual);
    }

    [Fact]
    public void QuickGelu_KnownValues()
    {
        // x * sigmoid(1.702 x), evaluated independently in Python's double math; differs from the exact GELU
        // above (0.8457957659 vs 0.8413447461 at x = 1).
        var x = Tensor.FromArray(new float[] { 0, 1, -1, 0.5f, 2, -3 }, 2, 3);

        var actual = _ops.QuickGelu(x);

        double[] expected = [0, 0.8457957659328212, -0.1542042340671787, 0.35038843660638014, 1.9356586231442083, -0.01807130970778597];
        Assert.Equal(new TensorShape(2, 3), actual.Shape);
        Tolerance.Fp32.AssertClose(expected, actual);
    }

    [Fact]
    public void QuickGelu_MatchesFormula()
    {
        var x = Tensor.FromSpan<float>(new TestData(56).Floats(70_000, scale: 9f), new TensorShape(70_000));

        var actual = _ops.QuickGelu(x);

        Tolerance.Fp32.AssertClose(Naive.Values(x).Select(v => v / (1 + Math.Exp(-1.702 * v))).ToArray(), actual);
    }

    [Fact]
    public void Geglu_FirstHalfIsValue_SecondHalfIsGate()
    {
        // value = [2, 3], gate = [1, -1]: out = [2 Gelu(1), 3 Gelu(-1)]. The swapped reading would give
        // [1 Gelu(2), -1 Gelu(3)].
        var x = Tensor.FromArray(new float[] { 2, 3, 1, -1 }, 1, 4);

        var actual = _ops.Geglu(x);

        Assert.Equal(new TensorShape(1, 2), actual.Shape);
        Tolerance.Fp32.AssertClose(new[] { 2 * 0.8413447460685429, 3 * -0.15865525393145707 }, actual);
    }

    [Fact]
    public void Geglu_MatchesNaive()
    {
        var x = new TestData(53).Uniform(2, 3, 16);

        var actual = _ops.Geglu(x);

        var xs = Naive.Values(x);
        var expected = new double[xs.Length / 2];
        for (var row = 0; row < 6; row++)
        {
            for (var i = 0; i < 8; i++)
            {
                expected[(row * 8) + i] = xs[(row * 16) + i] * Naive.Gelu(xs[(row * 16) + 8 + i]);
            }
        }

        Assert.Equal(new TensorShape(2, 3, 8), actual.Shape);
        Tolerance.Fp32.AssertClose(expected, actual);
    }

    [Fact]
    public void Add_IsElementwise()
    {
        var data = new TestData(54);
        var (a, b) = (data.Uniform(2, 3, 5), data.Uniform(2, 3, 5));

        var actual = _ops.Add(a, b);

        var (xs, ys) = (a.ToFloat32Array(), b.ToFloat32Array());
        Tolerance.Exact.AssertClose(xs.Select((v, i) => (double)(v + ys[i])).ToArray(), actual);
    }

    [Fact]
    public void Add_DifferentShapes_Throws()
    {
        var a = Tensor.Zeros(DType.F32, new TensorShape(2, 3));
        var b = Tensor.Zeros(DType.F32, new TensorShape(3, 2));
        var error = Assert.Throws<ArgumentException>(() => _ops.Add(a, b));
        Assert.Contains("[2, 3]", error.Message, StringComparison.Ordinal);
        Assert.Contains("[3, 2]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddBroadcastRows_AddsImageRowToEveryPixel()
    {
        var data = new TestData(55);
        var (n, h, w, c) = (2, 3, 4, 5);
        var x = data.Uniform(n, h, w, c);
        var rows = data.Uniform(n, c);

        var actual = _ops.AddBroadcastRows(x, rows);

        var (xs, rs) = (x.ToFloat32Array(), rows.ToFloat32Array());
        var expected = new double[xs.Length];
        for (var i = 0; i < expected.Length; i++)
        {
            expected[i] = xs[i] + rs[(i / (h * w * c) * c) + (i % c)];
        }

        Tolerance.Exact.AssertClose(expected, actual);
    }

    [Fact]
    public void AddBroadcastRows_WrongRowShape_Throws()
    {
        var x = Tensor.Zeros(DType.F32, new TensorShape(2, 3, 4, 5));
        var rows = Tensor.Zeros(DType.F32, new TensorShape(2, 4));
        var error = Assert.Throws<ArgumentException>(() => _ops.AddBroadcastRows(x, rows));
        Assert.Contains("[2, 5]", error.Message, StringComparison.Ordinal);
    }
}
