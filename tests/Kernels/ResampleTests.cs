using CudaI2V.Kernels.Cpu;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Kernels;

/// <summary>CpuOps nearest upsampling and adaptive average pooling with PyTorch's index rules.</summary>
public sealed class ResampleTests
{
    private readonly CpuOps _ops = new();

    [Fact]
    public void UpsampleNearest_Doubling_DuplicatesEachPixel2x2()
    {
        var x = new TestData(71).Uniform(2, 3, 4, 5);

        var y = _ops.UpsampleNearest(x, 6, 8);

        Tolerance.Exact.AssertClose(NaiveNearest(x, 6, 8), y);
    }

    [Fact]
    public void UpsampleNearest_7x9To13x18_UsesFloorOfScaledIndex()
    {
        // One channel holding the source row * 100 + column, so each output names the pixel it came from.
        var x = Tensor.FromSpan<float>(
            Enumerable.Range(0, 7 * 9).Select(i => (float)((i / 9 * 100) + (i % 9))).ToArray(), new TensorShape(1, 7, 9, 1));

        var y = _ops.UpsampleNearest(x, 13, 18).ToFloat32Array();

        int[] rows = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6];
        for (var oy = 0; oy < 13; oy++)
        {
            for (var ox = 0; ox < 18; ox++)
            {
                Assert.Equal((rows[oy] * 100) + (ox / 2), y[(oy * 18) + ox]);
            }
        }

        var random = new TestData(72).Uniform(2, 7, 9, 3);
        Tolerance.Exact.AssertClose(NaiveNearest(random, 13, 18), _ops.UpsampleNearest(random, 13, 18));
    }

    [Fact]
    public void AdaptiveAvgPool2d_88To32_HasOverlappingWindowsOf3And4()
    {
        // Row value = row index: each output is the mean index of its window. Windows start at floor(2.75 i):
        // [0,3) [2,6) [5,9) [8,11) ...
        var x = Tensor.FromSpan<float>(
            Enumerable.Range(0, 88 * 2).Select(i => (float)(i / 2)).ToArray(), new TensorShape(1, 88, 2, 1));

        var y = _ops.AdaptiveAvgPool2d(x, 32, 2).ToFloat32Array();

        Assert.Equal([1f, 1f, 3.5f, 3.5f, 6.5f, 6.5f, 9f, 9f], y.Take(8));
        Assert.Equal(86f, y[^1]);
    }

    [Fact]
    public void AdaptiveAvgPool2d_13To32And18To7_MatchesNaive()
    {
        // Growing 13 -> 32 gives windows of 1 or 2 rows; shrinking 18 -> 7 gives windows of 3 or 4 columns.
        var x = new TestData(73).Uniform(2, 13, 18, 4);

        var y = _ops.AdaptiveAvgPool2d(x, 32, 7);

        Assert.Equal(new TensorShape(2, 32, 7, 4), y.Shape);
        Tolerance.Fp32.AssertClose(NaiveAdaptivePool(x, 32, 7), y);
    }

    [Fact]
    public void AdaptiveAvgPool2d_64To32_Averages2x2Blocks()
    {
        var x = new TestData(74).Uniform(1, 64, 64, 3);

        var y = _ops.AdaptiveAvgPool2d(x, 32, 32);

        var xs = Naive.Values(x);
        var expected = new double[32 * 32 * 3];
        for (var i = 0; i < expected.Length; i++)
        {
            var (oy, ox, c) = (i / (32 * 3), i / 3 % 32, i % 3);
            double At(int yy, int xx) => xs[(((yy * 64) + xx) * 3) + c];
            expected[i] = (At(2 * oy, 2 * ox) + At(2 * oy, (2 * ox) + 1) + At((2 * oy) + 1, 2 * ox) + At((2 * oy) + 1, (2 * ox) + 1)) / 4;
        }

        Tolerance.Fp32.AssertClose(expected, y);
    }

    /// <summary>Source index floor(dst * in / out), evaluated with floating-point division and Math.Floor.</summary>
    private static double[] NaiveNearest(Tensor x, int outH, int outW)
    {
        var (n, h, w, c) = (x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]);
        var xs = Naive.Values(x);
        var y = new double[n * outH * outW * c];
        for (var i = 0; i < y.Length; i++)
        {
            var (image, oy, ox, ch) = (i / (outH * outW * c), i / (outW * c) % outH, i / c % outW, i % c);
            var iy = (int)Math.Floor(oy * (double)h / outH);
            var ix = (int)Math.Floor(ox * (double)w / outW);
            y[i] = xs[((((image * h) + iy) * w) + ix) * c + ch];
        }

        return y;
    }

    /// <summary>Mean over rows [floor(i H / Ho), ceil((i + 1) H / Ho)) and the same for columns, via Math.Floor and Math.Ceiling.</summary>
    private static double[] NaiveAdaptivePool(Tensor x, int outH, int outW)
    {
        var (n, h, w, c) = (x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]);
        var xs = Naive.Values(x);
        var y = new double[n * outH * outW * c];
        for (var i = 0; i < y.Length; i++)
        {
            var (image, oy, ox, ch) = (i / (outH * outW * c), i / (outW * c) % outH, i / c % outW, i % c);
            var (y0, y1) = ((int)Math.Floor(oy * (double)h / outH), (int)Math.Ceiling((oy + 1) * (double)h / outH));
            var (x0, x1) = ((int)Math.Floor(ox * (double)w / outW), (int)Math.Ceiling((ox + 1) * (double)w / outW));
            var sum = 0.0;
            for (var yy = y0; yy < y1; yy++)
            {
                for (var xx = x0; xx < x1; xx++)
                {
                    sum += xs[((((image * h) + yy) * w) + xx) * c + ch];
                }
            }

            y[i] = sum / ((y1 - y0) * (x1 - x0));
        }

        return y;
    }
}
