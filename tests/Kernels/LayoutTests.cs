using CudaI2V.Kernels.Cpu;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Kernels;

/// <summary>CpuOps concatenation, temporal rearrangements and edge layout conversions, element by element.</summary>
public sealed class LayoutTests
{
    private readonly CpuOps _ops = new();

    [Fact]
    public void Concat_Channels_HiddenThenSkip()
    {
        var data = new TestData(61);
        var (hidden, skip) = (data.Uniform(2, 3, 4, 5), data.Uniform(2, 3, 4, 7));

        var y = _ops.Concat([hidden, skip], axis: -1);

        Assert.Equal(new TensorShape(2, 3, 4, 12), y.Shape);
        var (ys, hs, ss) = (y.ToFloat32Array(), hidden.ToFloat32Array(), skip.ToFloat32Array());
        for (var pixel = 0; pixel < 2 * 3 * 4; pixel++)
        {
            for (var c = 0; c < 12; c++)
            {
                var expected = c < 5 ? hs[(pixel * 5) + c] : ss[(pixel * 7) + c - 5];
                Assert.Equal(expected, ys[(pixel * 12) + c]);
            }
        }
    }

    [Fact]
    public void Concat_Tokens_ThreePartsInOrder()
    {
        var data = new TestData(62);
        Tensor[] parts = [data.Uniform(2, 7, 6), data.Uniform(2, 4, 6), data.Uniform(2, 1, 6)];

        var y = _ops.Concat(parts, axis: 1);

        Assert.Equal(new TensorShape(2, 12, 6), y.Shape);
        var ys = y.ToFloat32Array();
        for (var b = 0; b < 2; b++)
        {
            var token = 0;
            foreach (var part in parts)
            {
                var ps = part.ToFloat32Array();
                var length = part.Shape[1];
                for (var t = 0; t < length; t++, token++)
                {
                    for (var c = 0; c < 6; c++)
                    {
                        Assert.Equal(ps[(((b * length) + t) * 6) + c], ys[(((b * 12) + token) * 6) + c]);
                    }
                }
            }
        }
    }

    [Fact]
    public void Concat_MismatchedShapes_Throws()
    {
        var a = Tensor.Zeros(DType.F32, new TensorShape(2, 3, 4));
        var b = Tensor.Zeros(DType.F32, new TensorShape(2, 5, 4));
        var error = Assert.Throws<ArgumentException>(() => _ops.Concat([a, b], axis: -1));
        Assert.Contains("[2, 5, 4]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FramesToSequences_PutsFramesOfOnePixelTogether()
    {
        var (b, f, h, w, c) = (2, 3, 2, 4, 5);
        var x = new TestData(63).Uniform(b * f, h, w, c);

        var y = _ops.FramesToSequences(x, f);

        Assert.Equal(new TensorShape(b * h * w, f, c), y.Shape);
        var (xs, ys) = (x.ToFloat32Array(), y.ToFloat32Array());
        for (var bb = 0; bb < b; bb++)
        {
            for (var ff = 0; ff < f; ff++)
            {
                for (var yy = 0; yy < h; yy++)
                {
                    for (var xx = 0; xx < w; xx++)
                    {
                        for (var cc = 0; cc < c; cc++)
                        {
                            var source = (((((bb * f) + ff) * h + yy) * w) + xx) * c + cc;
                            var sequence = (((bb * h) + yy) * w) + xx;
                            Assert.Equal(xs[source], ys[(((sequence * f) + ff) * c) + cc]);
                        }
                    }
                }
            }
        }

        Tolerance.Exact.AssertClose(x, _ops.SequencesToFrames(y, h, w));
    }

    [Fact]
    public void SequencesToFrames_SequenceCountNotWholeImages_Throws()
    {
        var x = Tensor.Zeros(DType.F32, new TensorShape(10, 3, 4));
        var error = Assert.Throws<ArgumentException>(() => _ops.SequencesToFrames(x, 2, 4));
        Assert.Contains("[10, 3, 4]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NchwToNhwc_MovesChannelsLast_AndBack()
    {
        var (n, c, h, w) = (2, 3, 4, 5);
        var x = new TestData(64).Uniform(n, c, h, w);

        var y = _ops.NchwToNhwc(x);

        Assert.Equal(new TensorShape(n, h, w, c), y.Shape);
        var (xs, ys) = (x.ToFloat32Array(), y.ToFloat32Array());
        for (var i = 0; i < n; i++)
        {
            for (var ch = 0; ch < c; ch++)
            {
                for (var yy = 0; yy < h; yy++)
                {
                    for (var xx = 0; xx < w; xx++)
                    {
                        Assert.Equal(xs[(((((i * c) + ch) * h) + yy) * w) + xx], ys[(((((i * h) + yy) * w) + xx) * c) + ch]);
                    }
                }
            }
        }

        Tolerance.Exact.AssertClose(x, _ops.NhwcToNchw(y));
    }

    [Fact]
    public void NcfhwToNhwc_FoldsFramesIntoBatch_AndBack()
    {
        var (b, c, f, h, w) = (2, 3, 4, 2, 3);
        var x = new TestData(65).Uniform(b, c, f, h, w);

        var y = _ops.NcfhwToNhwc(x);

        Assert.Equal(new TensorShape(b * f, h, w, c), y.Shape);
        var (xs, ys) = (x.ToFloat32Array(), y.ToFloat32Array());
        for (var bb = 0; bb < b; bb++)
        {
            for (var ch = 0; ch < c; ch++)
            {
                for (var ff = 0; ff < f; ff++)
                {
                    for (var p = 0; p < h * w; p++)
                    {
                        Assert.Equal(xs[(((((bb * c) + ch) * f) + ff) * h * w) + p], ys[(((((bb * f) + ff) * h * w) + p) * c) + ch]);
                    }
                }
            }
        }

        Tolerance.Exact.AssertClose(x, _ops.NhwcToNcfhw(y, f));
    }

    [Fact]
    public void Copy_MaterialisesStridedView()
    {
        var x = new TestData(66).Uniform(2, 3, 8);
        var view = x.Slice(2, 4, 4);

        var copy = _ops.Copy(view);

        Assert.True(copy.IsContiguous);
        Tolerance.Exact.AssertClose(view.Contiguous(), copy);
    }

    [Fact]
    public void FromHost_ConvertsHalfToF32_AndToHostCopiesBack()
    {
        var half = Tensor.FromArray(new[] { (Half)1.5f, (Half)(-2f), (Half)0.25f }, 3);

        var x = _ops.FromHost(half);
        var back = _ops.ToHost(x);

        Assert.Equal(DType.F32, x.DType);
        Assert.Equal(new[] { 1.5f, -2f, 0.25f }, back.ToFloat32Array());
    }
}
