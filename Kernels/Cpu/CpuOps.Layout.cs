using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cpu;

public sealed partial class CpuOps
{
    /// <inheritdoc/>
    /// <remarks>
    /// With the dimensions before the axis flattened to "outer", each part contributes one contiguous block
    /// per outer index; the blocks are copied side by side.
    /// </remarks>
    public Tensor Concat(IReadOnlyList<Tensor> parts, int axis)
    {
        ArgumentNullException.ThrowIfNull(parts);
        for (var i = 0; i < parts.Count; i++)
        {
            ArgumentNullException.ThrowIfNull(parts[i]);
            Require(nameof(Concat), $"parts[{i}]", parts[i]);
        }

        var outShape = OpShapes.Concat(parts, axis, out var a);
        var outer = Product(outShape, 0, a);
        var inner = Product(outShape, a + 1, outShape.Rank);
        var outBlock = outShape[a] * inner;
        var y = NewTensor(nameof(Concat), outShape);
        var ys = y.AsSpan<float>();
        var offset = 0;
        foreach (var part in parts)
        {
            var block = part.Shape[a] * inner;
            var ps = part.AsSpan<float>();
            for (var o = 0; o < outer; o++)
            {
                ps.Slice(o * block, block).CopyTo(ys.Slice((o * outBlock) + offset, block));
            }

            offset += block;
        }

        return y;
    }

    /// <inheritdoc/>
    public Tensor FramesToSequences(Tensor x, int frames)
    {
        ArgumentNullException.ThrowIfNull(x);
        Require(nameof(FramesToSequences), nameof(x), x);
        var outShape = OpShapes.FramesToSequences(x, frames);
        var pixels = x.Shape[1] * x.Shape[2];
        var y = NewTensor(nameof(FramesToSequences), outShape);
        CopyRows(x, y, x.Shape[0] / frames, frames, pixels, x.Shape[3], framesMajorSource: true);
        return y;
    }

    /// <inheritdoc/>
    public Tensor SequencesToFrames(Tensor x, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(x);
        Require(nameof(SequencesToFrames), nameof(x), x);
        var outShape = OpShapes.SequencesToFrames(x, height, width);
        var pixels = height * width;
        var y = NewTensor(nameof(SequencesToFrames), outShape);
        CopyRows(x, y, x.Shape[0] / pixels, x.Shape[1], pixels, x.Shape[2], framesMajorSource: false);
        return y;
    }

    /// <inheritdoc/>
    public Tensor NchwToNhwc(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        Require(nameof(NchwToNhwc), nameof(x), x);
        var y = NewTensor(nameof(NchwToNhwc), OpShapes.NchwToNhwc(x));
        var (n, c, h, w) = (x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]);
        ChannelsFirstToLast(x.AsSpan<float>(), y.AsSpan<float>(), n, c, 1, h * w);
        return y;
    }

    /// <inheritdoc/>
    public Tensor NhwcToNchw(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        Require(nameof(NhwcToNchw), nameof(x), x);
        var y = NewTensor(nameof(NhwcToNchw), OpShapes.NhwcToNchw(x));
        var (n, h, w, c) = (x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]);
        ChannelsLastToFirst(x.AsSpan<float>(), y.AsSpan<float>(), n, c, 1, h * w);
        return y;
    }

    /// <inheritdoc/>
    public Tensor NcfhwToNhwc(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        Require(nameof(NcfhwToNhwc), nameof(x), x);
        var y = NewTensor(nameof(NcfhwToNhwc), OpShapes.NcfhwToNhwc(x));
        var (b, c, f, h, w) = (x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], x.Shape[4]);
        ChannelsFirstToLast(x.AsSpan<float>(), y.AsSpan<float>(), b, c, f, h * w);
        return y;
    }

    /// <inheritdoc/>
    public Tensor NhwcToNcfhw(Tensor x, int frames)
    {
        ArgumentNullException.ThrowIfNull(x);
        Require(nameof(NhwcToNcfhw), nameof(x), x);
        var y = NewTensor(nameof(NhwcToNcfhw), OpShapes.NhwcToNcfhw(x, frames));
        var (b, h, w, c) = (x.Shape[0] / frames, x.Shape[1], x.Shape[2], x.Shape[3]);
        ChannelsLastToFirst(x.AsSpan<float>(), y.AsSpan<float>(), b, c, frames, h * w);
        return y;
    }

    /// <summary>
    /// Moves rows of C channels between frame-major order [b][f][p] and pixel-major order [b][p][f]:
    /// from the first to the second when <paramref name="framesMajorSource"/>, else back.
    /// </summary>
    private static void CopyRows(Tensor source, Tensor target, int batch, int frames, int pixels, int c, bool framesMajorSource)
    {
        var src = source.AsSpan<float>();
        var dst = target.AsSpan<float>();
        for (var b = 0; b < batch; b++)
        {
            for (var f = 0; f < frames; f++)
            {
                for (var p = 0; p < pixels; p++)
                {
                    var frameMajor = (((b * frames) + f) * pixels + p) * c;
                    var pixelMajor = (((b * pixels) + p) * frames + f) * c;
                    var (from, to) = framesMajorSource ? (frameMajor, pixelMajor) : (pixelMajor, frameMajor);
                    src.Slice(from, c).CopyTo(dst.Slice(to, c));
                }
            }
        }
    }

    /// <summary>[b][c][f][p] to [b][f][p][c] (F = 1 is the NCHW case).</summary>
    private static void ChannelsFirstToLast(ReadOnlySpan<float> src, Span<float> dst, int batch, int c, int frames, int pixels)
    {
        for (var b = 0; b < batch; b++)
        {
            for (var ch = 0; ch < c; ch++)
            {
                for (var f = 0; f < frames; f++)
                {
                    for (var p = 0; p < pixels; p++)
                    {
                        dst[((((b * frames) + f) * pixels + p) * c) + ch] = src[(((b * c) + ch) * frames + f) * pixels + p];
                    }
                }
            }
        }
    }

    /// <summary>[b][f][p][c] to [b][c][f][p], the inverse of <see cref="ChannelsFirstToLast"/>.</summary>
    private static void ChannelsLastToFirst(ReadOnlySpan<float> src, Span<float> dst, int batch, int c, int frames, int pixels)
    {
        for (var b = 0; b < batch; b++)
        {
            for (var ch = 0; ch < c; ch++)
            {
                for (var f = 0; f < frames; f++)
                {
                    for (var p = 0; p < pixels; p++)
                    {
                        dst[(((b * c) + ch) * frames + f) * pixels + p] = src[((((b * frames) + f) * pixels + p) * c) + ch];
                    }
                }
            }
        }
    }
}
