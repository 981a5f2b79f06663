using CudaI2V.Kernels.Cpu;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Kernels;

/// <summary>CpuOps.TemporalConv (Conv3d with kernel (3, 1, 1), padding (1, 0, 0)) against a naive loop in double.</summary>
public sealed class TemporalConvTests
{
    private readonly CpuOps _ops = new();

    [Fact]
    public void TemporalConv_MatchesNaiveConv3d()
    {
        var data = new TestData(11);
        var (b, f, h, w, cin, cout) = (2, 4, 3, 2, 5, 6);
        var x = data.Uniform(b * f, h, w, cin);
        var weight = data.Uniform(cout, cin, 3, 1, 1);
        var bias = data.Uniform(cout);

        var actual = _ops.TemporalConv(x, f, weight, bias);

        Assert.Equal(new TensorShape(b * f, h, w, cout), actual.Shape);
        Tolerance.Fp32.AssertClose(NaiveTemporalConv(x, f, weight, bias), actual);
    }

    [Fact]
    public void TemporalConv_FirstTapReadsPreviousFrame_WithZeroBeforeTheFirst()
    {
        // weight[0, 0, t] = [1, 0, 0]: frame f gets frame f - 1, frame 0 gets the zero padding.
        var x = Tensor.FromArray(new float[] { 10, 20, 30, 40, 50, 60 }, 6, 1, 1, 1);
        var weight = Tensor.FromArray(new float[] { 1, 0, 0 }, 1, 1, 3, 1, 1);

        var y = _ops.TemporalConv(x, frames: 3, weight, bias: null);

        Assert.Equal(new float[] { 0, 10, 20, 0, 40, 50 }, y.ToFloat32Array());
    }

    [Fact]
    public void TemporalConv_LastTapReadsNextFrame_WithZeroAfterTheLast()
    {
        var x = Tensor.FromArray(new float[] { 10, 20, 30, 40, 50, 60 }, 6, 1, 1, 1);
        var weight = Tensor.FromArray(new float[] { 0, 0, 1 }, 1, 1, 3, 1, 1);

        var y = _ops.TemporalConv(x, frames: 3, weight, bias: null);

        Assert.Equal(new float[] { 20, 30, 0, 50, 60, 0 }, y.ToFloat32Array());
    }

    [Fact]
    public void TemporalConv_WithResidual_AddsIt()
    {
        var data = new TestData(12);
        var (b, f, h, w, c) = (1, 5, 2, 3, 4);
        var x = data.Uniform(b * f, h, w, c);
        var weight = data.Uniform(c, c, 3, 1, 1);
        var bias = data.Uniform(c);
        var residual = data.Uniform(b * f, h, w, c);

        var actual = _ops.TemporalConv(x, f, weight, bias, residual);

        var expected = NaiveTemporalConv(x, f, weight, bias);
        var skip = Naive.Values(residual);
        for (var i = 0; i < expected.Length; i++)
        {
            expected[i] += skip[i];
        }

        Tolerance.Fp32.AssertClose(expected, actual);
    }

    [Fact]
    public void TemporalConv_ImagesNotWholeVideos_Throws()
    {
        var x = Tensor.Zeros(DType.F32, new TensorShape(7, 2, 2, 4));
        var weight = Tensor.Zeros(DType.F32, new TensorShape(4, 4, 3, 1, 1));
        var error = Assert.Throws<ArgumentException>(() => _ops.TemporalConv(x, 4, weight, null));
        Assert.Contains("[7, 2, 2, 4]", error.Message, StringComparison.Ordinal);
    }

    /// <summary>out[b, co, f, y, x] = bias + sum over ci, t of w[co, ci, t] * x[b, ci, f + t - 1, y, x], on NCFHW.</summary>
    private static double[] NaiveTemporalConv(Tensor xNhwc, int frames, Tensor weight, Tensor bias)
    {
        var (n, h, w, cin) = (xNhwc.Shape[0], xNhwc.Shape[1], xNhwc.Shape[2], xNhwc.Shape[3]);
        var (b, cout) = (n / frames, weight.Shape[0]);
        var x = Naive.Values(xNhwc);
        var wt = Naive.Values(weight);
        var bs = Naive.Values(bias);

        // Read the channels-last input as x[b, ci, f, y, x] through explicit indexing.
        double X(int bb, int ci, int f, int yy, int xx) => x[((((bb * frames) + f) * h + yy) * w + xx) * cin + ci];

        var ncfhw = new double[b * cout * frames * h * w];
        for (var bb = 0; bb < b; bb++)
        {
            for (var co = 0; co < cout; co++)
            {
                for (var f = 0; f < frames; f++)
                {
                    for (var yy = 0; yy < h; yy++)
                    {
                        for (var xx = 0; xx < w; xx++)
                        {
                            var sum = bs[co];
                            for (var ci = 0; ci < cin; ci++)
                            {
                                for (var t = 0; t < 3; t++)
                                {
                                    var source = f + t - 1;
                                    if (source >= 0 && source < frames)
                                    {
                                        sum += wt[(((co * cin) + ci) * 3) + t] * X(bb, ci, source, yy, xx);
                                    }
                                }
                            }

                            ncfhw[((((bb * cout) + co) * frames + f) * h + yy) * w + xx] = sum;
                        }
                    }
                }
            }
        }

        // Back to channels-last (B * F, H, W, Cout).
        var y = new double[ncfhw.Length];
        for (var bb = 0; bb < b; bb++)
        {
            for (var co = 0; co < cout; co++)
            {
                for (var f = 0; f < frames; f++)
                {
                    for (var p = 0; p < h * w; p++)
                    {
                        y[((((bb * frames) + f) * h * w) + p) * cout + co] = ncfhw[((((bb * cout) + co) * frames) + f) * h * w + p];
                    }
                }
            }
        }

        return y;
    }
}
