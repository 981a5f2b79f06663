using CudaI2V.Kernels;
using CudaI2V.Kernels.Cpu;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Kernels;

/// <summary>CpuOps.Conv2d against a nested-loop NCHW cross-correlation in double.</summary>
public sealed class ConvTests
{
    private readonly CpuOps _ops = new();

    [Fact]
    public void Conv2d_3x3Padding1_MatchesNaive() =>
        CheckConv(seed: 1, n: 2, h: 5, w: 7, cin: 3, cout: 4, kh: 3, kw: 3, stride: 1, Padding2D.All(1), withBias: true);

    [Fact]
    public void Conv2d_1x1_MatchesNaive() =>
        CheckConv(seed: 2, n: 2, h: 4, w: 6, cin: 8, cout: 5, kh: 1, kw: 1, stride: 1, Padding2D.None, withBias: true);

    [Fact]
    public void Conv2d_3x3Stride2_OddSize13x18_Gives7x9()
    {
        var y = CheckConv(seed: 3, n: 1, h: 13, w: 18, cin: 3, cout: 2, kh: 3, kw: 3, stride: 2, Padding2D.All(1), withBias: true);
        Assert.Equal(new TensorShape(1, 7, 9, 2), y.Shape);
    }

    [Fact]
    public void Conv2d_PatchEmbedding_KernelEqualsStrideWithoutBias()
    {
        var y = CheckConv(seed: 4, n: 1, h: 28, w: 42, cin: 3, cout: 6, kh: 14, kw: 14, stride: 14, Padding2D.None, withBias: false);
        Assert.Equal(new TensorShape(1, 2, 3, 6), y.Shape);
    }

    [Fact]
    public void Conv2d_RightAndBottomPaddingStride2_MatchesNaive()
    {
        // The VAE encoder's downsampler: pad right and bottom by one, then 3x3 stride 2 without padding.
        var y = CheckConv(seed: 5, n: 2, h: 8, w: 9, cin: 3, cout: 4, kh: 3, kw: 3, stride: 2, new Padding2D(0, 1, 0, 1), withBias: true);
        Assert.Equal(new TensorShape(2, 4, 4, 4), y.Shape);
    }

    [Fact]
    public void Conv2d_RectangularKernelUnevenPadding_MatchesNaive() =>
        CheckConv(seed: 6, n: 1, h: 6, w: 5, cin: 2, cout: 3, kh: 2, kw: 3, stride: 1, new Padding2D(1, 0, 2, 1), withBias: true);

    [Fact]
    public void Conv2d_FusedEpilogue_AddsPerImageRowsThenResidual()
    {
        var data = new TestData(7);
        var (n, h, w, cin, cout) = (2, 4, 5, 3, 6);
        var x = data.Uniform(n, h, w, cin);
        var weight = data.Uniform(cout, cin, 3, 3);
        var bias = data.Uniform(cout);
        var perImage = data.Uniform(n, cout);
        var residual = data.Uniform(n, h, w, cout);

        var actual = _ops.Conv2d(x, weight, bias, 1, Padding2D.All(1), perImage, residual);

        var expected = NaiveConv(x, weight, bias, 1, Padding2D.All(1));
        var rows = Naive.Values(perImage);
        var skip = Naive.Values(residual);
        for (var i = 0; i < expected.Length; i++)
        {
            var (image, channel) = (i / (h * w * cout), i % cout);
            expected[i] += rows[(image * cout) + channel] + skip[i];
        }

        Tolerance.Fp32.AssertClose(expected, actual);
    }

    [Fact]
    public void Conv2d_ChannelMismatch_ThrowsWithBothShapes()
    {
        var x = Tensor.Zeros(DType.F32, new TensorShape(2, 5, 7, 8));
        var weight = Tensor.Zeros(DType.F32, new TensorShape(4, 3, 3, 3));
        var error = Assert.Throws<ArgumentException>(() => _ops.Conv2d(x, weight, null, 1, Padding2D.All(1)));
        Assert.Contains("[4, 3, 3, 3]", error.Message, StringComparison.Ordinal);
        Assert.Contains("[2, 5, 7, 8]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Conv2d_StridedView_IsRefused()
    {
        var x = new TestData(8).Uniform(1, 4, 4, 6).Slice(3, 0, 3);
        var weight = Tensor.Zeros(DType.F32, new TensorShape(2, 3, 1, 1));
        var error = Assert.Throws<ArgumentException>(() => _ops.Conv2d(x, weight, null, 1, Padding2D.None));
        Assert.Contains("strided", error.Message, StringComparison.Ordinal);
    }

    private Tensor CheckConv(
        ulong seed, int n, int h, int w, int cin, int cout, int kh, int kw, int stride, Padding2D padding, bool withBias)
    {
        var data = new TestData(seed);
        var x = data.Uniform(n, h, w, cin);
        var weight = data.Uniform(cout, cin, kh, kw);
        var bias = withBias ? data.Uniform(cout) : null;

        var actual = _ops.Conv2d(x, weight, bias, stride, padding);

        Tolerance.Fp32.AssertClose(NaiveConv(x, weight, bias, stride, padding), actual);
        return actual;
    }

    /// <summary>PyTorch's Conv2d in NCHW with six nested loops in double, returned channels-last.</summary>
    private static double[] NaiveConv(Tensor xNhwc, Tensor weight, Tensor? bias, int stride, Padding2D pad)
    {
        var (n, h, w, cin) = (xNhwc.Shape[0], xNhwc.Shape[1], xNhwc.Shape[2], xNhwc.Shape[3]);
        var (cout, kh, kw) = (weight.Shape[0], weight.Shape[2], weight.Shape[3]);
        var oh = ((h + pad.Top + pad.Bottom - kh) / stride) + 1;
        var ow = ((w + pad.Left + pad.Right - kw) / stride) + 1;
        var x = Naive.NhwcToNchw(Naive.Values(xNhwc), n, h, w, cin);
        var wt = Naive.Values(weight);
        var b = bias is null ? new double[cout] : Naive.Values(bias);
        var y = new double[n * cout * oh * ow];
        for (var i = 0; i < n; i++)
        {
            for (var co = 0; co < cout; co++)
            {
                for (var oy = 0; oy < oh; oy++)
                {
                    for (var ox = 0; ox < ow; ox++)
                    {
                        var sum = b[co];
                        for (var ci = 0; ci < cin; ci++)
                        {
                            for (var ky = 0; ky < kh; ky++)
                            {
                                for (var kx = 0; kx < kw; kx++)
                                {
                                    var iy = (oy * stride) + ky - pad.Top;
                                    var ix = (ox * stride) + kx - pad.Left;
                                    if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                                    {
                                        sum += x[(((i * cin) + ci) * h + iy) * w + ix] * wt[(((co * cin) + ci) * kh + ky) * kw + kx];
                                    }
                                }
                            }
                        }

                        y[(((i * cout) + co) * oh + oy) * ow + ox] = sum;
                    }
                }
            }
        }

        return Naive.NchwToNhwc(y, n, cout, oh, ow);
    }
}
