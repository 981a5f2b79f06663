using CudaI2V.Runtime.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace CudaI2V.Kernels.Cpu;

public sealed partial class CpuOps
{
    /// <inheritdoc/>
    /// <remarks>
    /// For each output pixel the receptive field is gathered into one vector ordered [ky][kx][ci] (zeros where
    /// it falls in the padding), and each output channel is its dot product with the filter repacked in the
    /// same order, [Cout][kh][kw][Cin]. The epilogue adds the rows and the residual in place, with the same fp32
    /// additions as <see cref="AddBroadcastRows"/> then <see cref="Add"/>.
    /// </remarks>
    public Tensor Conv2d(
        Tensor x,
        Tensor weight,
        Tensor? bias,
        int stride,
        Padding2D padding,
        Tensor? perImage = null,
        Tensor? residual = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        Require(nameof(Conv2d), nameof(x), x);
        Require(nameof(Conv2d), nameof(weight), weight);
        Require(nameof(Conv2d), nameof(bias), bias);
        Require(nameof(Conv2d), nameof(perImage), perImage);
        Require(nameof(Conv2d), nameof(residual), residual);
        var outShape = OpShapes.Conv2d(x, weight, bias, stride, padding, perImage, residual);

        var (h, w, cin) = (x.Shape[1], x.Shape[2], x.Shape[3]);
        var (cout, kh, kw) = (weight.Shape[0], weight.Shape[2], weight.Shape[3]);
        var (outH, outW) = (outShape[1], outShape[2]);
        var patchLength = kh * kw * cin;
        var packed = PackFilter(weight.AsSpan<float>(), cout, cin, kh * kw);
        var y = NewTensor(nameof(Conv2d), outShape);

        Parallel.For(
            0,
            outShape[0] * outH,
            _parallel,
            () => new float[patchLength],
            (row, _, patch) =>
            {
                var (n, oy) = (row / outH, row % outH);
                var xs = x.AsSpan<float>();
                var ys = y.AsSpan<float>();
                ReadOnlySpan<float> bs = bias is null ? default : bias.AsSpan<float>();
                for (var ox = 0; ox < outW; ox++)
                {
                    for (var ky = 0; ky < kh; ky++)
                    {
                        var iy = (oy * stride) - padding.Top + ky;
                        for (var kx = 0; kx < kw; kx++)
                        {
                            var ix = (ox * stride) - padding.Left + kx;
                            var tap = patch.AsSpan(((ky * kw) + kx) * cin, cin);
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                            {
                                tap.Clear();
                            }
                            else
                            {
                                xs.Slice((((n * h) + iy) * w + ix) * cin, cin).CopyTo(tap);
                            }
                        }
                    }

                    var output = ys.Slice((((n * outH) + oy) * outW + ox) * cout, cout);
                    for (var co = 0; co < cout; co++)
                    {
                        var sum = TensorPrimitives.Dot(patch, packed.AsSpan(co * patchLength, patchLength));
                        output[co] = bias is null ? sum : sum + bs[co];
                    }
                }

                return patch;
            },
            _ => { });

        if (perImage is not null)
        {
            AddRowsInPlace(y, perImage);
        }

        if (residual is not null)
        {
            AddInPlace(y, residual);
        }

        return y;
    }

    /// <inheritdoc/>
    /// <remarks>
    /// The same gather-and-dot scheme as <see cref="Conv2d"/>: for each pixel of each frame the kt frames
    /// around it are gathered into one vector ordered [t][ci], zero outside the video, and dotted with the
    /// filter repacked as [Cout][kt][Cin]. The residual is added in place, as <see cref="Add"/> adds it.
    /// </remarks>
    public Tensor TemporalConv(Tensor x, int frames, Tensor weight, Tensor? bias, Tensor? residual = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        Require(nameof(TemporalConv), nameof(x), x);
        Require(nameof(TemporalConv), nameof(weight), weight);
        Require(nameof(TemporalConv), nameof(bias), bias);
        Require(nameof(TemporalConv), nameof(residual), residual);
        var outShape = OpShapes.TemporalConv(x, frames, weight, bias, residual);

        var pixels = x.Shape[1] * x.Shape[2];
        var cin = x.Shape[3];
        var (cout, kt) = (weight.Shape[0], weight.Shape[2]);
        var patchLength = kt * cin;
        var packed = PackFilter(weight.AsSpan<float>(), cout, cin, kt);
        var y = NewTensor(nameof(TemporalConv), outShape);

        Parallel.For(
            0,
            x.Shape[0],
            _parallel,
            () => new float[patchLength],
            (n, _, patch) =>
            {
                var (video, frame) = (n / frames, n % frames);
                var xs = x.AsSpan<float>();
                var ys = y.AsSpan<float>();
                ReadOnlySpan<float> bs = bias is null ? default : bias.AsSpan<float>();
                for (var p = 0; p < pixels; p++)
                {
                    for (var t = 0; t < kt; t++)
                    {
                        var source = frame + t - (kt / 2);
                        var tap = patch.AsSpan(t * cin, cin);
                        if (source < 0 || source >= frames)
                        {
                            tap.Clear();
                        }
                        else
                        {
                            xs.Slice((((video * frames) + source) * pixels + p) * cin, cin).CopyTo(tap);
                        }
                    }

                    var output = ys.Slice(((n * pixels) + p) * cout, cout);
                    for (var co = 0; co < cout; co++)
                    {
                        var sum = TensorPrimitives.Dot(patch, packed.AsSpan(co * patchLength, patchLength));
                        output[co] = bias is null ? sum : sum + bs[co];
                    }
                }

                return patch;
            },
            _ => { });

        if (residual is not null)
        {
            AddInPlace(y, residual);
        }

        return y;
    }

    /// <summary>
    /// Repacks a PyTorch filter [Cout][Cin][taps] (taps = kh * kw, or kt for a temporal filter, row-major)
    /// to [Cout][taps][Cin], so that each tap's input channels are contiguous like a channels-last pixel.
    /// </summary>
    private static float[] PackFilter(ReadOnlySpan<float> weight, int cout, int cin, int taps)
    {
        var packed = new float[cout * taps * cin];
        for (var co = 0; co < cout; co++)
        {
            for (var ci = 0; ci < cin; ci++)
            {
                for (var t = 0; t < taps; t++)
                {
                    packed[(((co * taps) + t) * cin) + ci] = weight[(((co * cin) + ci) * taps) + t];
                }
            }
        }

        return packed;
    }
}
