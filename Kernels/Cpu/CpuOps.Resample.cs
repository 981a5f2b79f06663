using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cpu;

public sealed partial class CpuOps
{
    /// <inheritdoc/>
    /// <remarks>Source indices use exact integer arithmetic, floor(dst * in / out); each pixel is a copy of C channels.</remarks>
    public Tensor UpsampleNearest(Tensor x, int outHeight, int outWidth)
    {
        ArgumentNullException.ThrowIfNull(x);
        Require(nameof(UpsampleNearest), nameof(x), x);
        var outShape = OpShapes.Resize(nameof(UpsampleNearest), x, outHeight, outWidth);

        var (h, w, c) = (x.Shape[1], x.Shape[2], x.Shape[3]);
        var y = NewTensor(nameof(UpsampleNearest), outShape);
        Parallel.For(0, x.Shape[0] * outHeight, _parallel, row =>
        {
            var (n, oy) = (row / outHeight, row % outHeight);
            var iy = (int)((long)oy * h / outHeight);
            var xs = x.AsSpan<float>();
            var ys = y.AsSpan<float>();
            for (var ox = 0; ox < outWidth; ox++)
            {
                var ix = (int)((long)ox * w / outWidth);
                xs.Slice((((n * h) + iy) * w + ix) * c, c).CopyTo(ys.Slice((((n * outHeight) + oy) * outWidth + ox) * c, c));
            }
        });

        return y;
    }

    /// <inheritdoc/>
    /// <remarks>Window edges use exact integer floor and ceiling; each mean is accumulated in double.</remarks>
    public Tensor AdaptiveAvgPool2d(Tensor x, int outHeight, int outWidth)
    {
        ArgumentNullException.ThrowIfNull(x);
        Require(nameof(AdaptiveAvgPool2d), nameof(x), x);
        var outShape = OpShapes.Resize(nameof(AdaptiveAvgPool2d), x, outHeight, outWidth);

        var (h, w, c) = (x.Shape[1], x.Shape[2], x.Shape[3]);
        var y = NewTensor(nameof(AdaptiveAvgPool2d), outShape);
        Parallel.For(
            0,
            x.Shape[0] * outHeight,
            _parallel,
            () => new double[c],
            (row, _, sum) =>
            {
                var (n, oy) = (row / outHeight, row % outHeight);
                var (y0, y1) = PoolWindow(oy, h, outHeight);
                var xs = x.AsSpan<float>();
                var ys = y.AsSpan<float>();
                for (var ox = 0; ox < outWidth; ox++)
                {
                    var (x0, x1) = PoolWindow(ox, w, outWidth);
                    Array.Clear(sum);
                    for (var iy = y0; iy < y1; iy++)
                    {
                        for (var ix = x0; ix < x1; ix++)
                        {
                            var pixel = xs.Slice((((n * h) + iy) * w + ix) * c, c);
                            for (var ch = 0; ch < c; ch++)
                            {
                                sum[ch] += pixel[ch];
                            }
                        }
                    }

                    var count = (double)(y1 - y0) * (x1 - x0);
                    var output = ys.Slice((((n * outHeight) + oy) * outWidth + ox) * c, c);
                    for (var ch = 0; ch < c; ch++)
                    {
                        output[ch] = (float)(sum[ch] / count);
                    }
                }

                return sum;
            },
            _ => { });

        return y;
    }

    /// <summary>PyTorch's adaptive pooling window [floor(i * in / out), ceil((i + 1) * in / out)).</summary>
    private static (int Start, int End) PoolWindow(int i, int inLength, int outLength) =>
        ((int)((long)i * inLength / outLength), (int)((((long)(i + 1) * inLength) + outLength - 1) / outLength));
}
