using System.Runtime.InteropServices;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda;

/// <summary>The parameters of Im2col.cu's entry points (72 bytes; mirrors <c>struct Im2colParams</c>).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Im2colParams
{
    /// <summary>Device address of x's element [0, 0, 0, 0].</summary>
    public ulong Source;

    /// <summary>Device address of the columns' element [0, 0]: the patch of output pixel <see cref="RowBegin"/>.</summary>
    public ulong Destination;

    /// <summary>The first output pixel, counted over (N, Ho, Wo).</summary>
    public long RowBegin;

    /// <summary>Patches to write.</summary>
    public long Rows;

    /// <summary>H.</summary>
    public int Height;

    /// <summary>W.</summary>
    public int Width;

    /// <summary>Cin.</summary>
    public int Channels;

    /// <summary>kh.</summary>
    public int KernelHeight;

    /// <summary>kw.</summary>
    public int KernelWidth;

    /// <summary>The stride along both axes.</summary>
    public int Stride;

    /// <summary>Zero rows above the image.</summary>
    public int PadTop;

    /// <summary>Zero columns left of the image.</summary>
    public int PadLeft;

    /// <summary>Ho.</summary>
    public int OutHeight;

    /// <summary>Wo.</summary>
    public int OutWidth;
}

/// <summary>
/// Launcher of Im2col.cu: writes the receptive fields of output pixels [rowBegin, rowBegin + rows) of a 2-D convolution
/// over channels-last x as the rows of a [rows, kh * kw * Cin] matrix, in the K order of the weight layout the GEMM
/// uses (<see cref="ConvWeightLayout"/>).
/// </summary>
public static class Im2colKernel
{
    /// <summary>The source file.</summary>
    public const string SourceFile = "Im2col.cu";

    /// <summary>The entry points this launcher uses.</summary>
    public static IReadOnlyList<string> EntryPoints { get; } =
        ["im2col_hwc_f32", "im2col_hwc_f16", "im2col_hwc_bf16", "im2col_chw_f32", "im2col_chw_f16", "im2col_chw_bf16", "im2col_hwcv_f32", "im2col_hwcv_f16", "im2col_hwcv_bf16"];

    /// <summary>
    /// The launch writing <paramref name="columns"/> ([rows, kh * kw * Cin], contiguous, x's dtype) from the patches of
    /// output pixels <paramref name="rowBegin"/> onwards, or null when there is nothing to write. <paramref name="order"/> picks
    /// the K order: <see cref="ConvWeightLayout.Packed"/> is [ky][kx][ci], <see cref="ConvWeightLayout.Torch"/> [ci][ky][kx].
    /// </summary>
    public static KernelLaunch<Im2colParams>? Plan(
        Tensor x, Tensor columns, int kernelHeight, int kernelWidth, int stride, Padding2D padding, ConvWeightLayout order, long rowBegin,
        int maxBlocks = ElementwiseGrid.DefaultMaxBlocks)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(columns);
        var suffix = ElementwiseGrid.Suffix(x.DType, nameof(x));
        if (x.Shape.Rank != 4 || !x.IsContiguous)
        {
            throw new ArgumentException($"Im2col needs a contiguous (N, H, W, Cin) input; got {x.DType} {x.Shape}{(x.IsContiguous ? "" : " (strided)")}.", nameof(x));
        }

        var (n, h, w, c) = (x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]);
        var paddedH = h + padding.Top + padding.Bottom;
        var paddedW = w + padding.Left + padding.Right;
        if (kernelHeight < 1 || kernelWidth < 1 || stride < 1 || padding.Top < 0 || padding.Bottom < 0 || padding.Left < 0 || padding.Right < 0
            || paddedH < kernelHeight || paddedW < kernelWidth)
        {
            throw new ArgumentException($"Im2col: a {kernelHeight}x{kernelWidth} kernel with stride {stride} and padding {padding} does not fit x {x.Shape}.", nameof(x));
        }

        var (outH, outW) = (((paddedH - kernelHeight) / stride) + 1, ((paddedW - kernelWidth) / stride) + 1);
        var patch = (long)kernelHeight * kernelWidth * c;
        var total = (long)n * outH * outW;
        if (columns.Shape.Rank != 2 || columns.Shape[1] != patch || columns.DType != x.DType || !columns.IsContiguous)
        {
            throw new ArgumentException(
                $"Im2col: the columns must be a contiguous {x.DType} [rows, {patch}] matrix for x {x.Shape} and a {kernelHeight}x{kernelWidth} kernel; got {columns.DType} {columns.Shape}.",
                nameof(columns));
        }

        var rows = columns.Shape[0];
        if (rowBegin < 0 || rowBegin + rows > total)
        {
            throw new ArgumentException($"Im2col: rows [{rowBegin}, {rowBegin + rows}) are outside the {total} output pixels of x {x.Shape} ({n} x {outH} x {outW}).", nameof(rowBegin));
        }

        var (src, dst) = (x.DeviceAddress(nameof(x)), columns.DeviceAddress(nameof(columns)));
        if (rows == 0 || patch == 0)
        {
            return null;
        }

        var parameters = new Im2colParams
        {
            Source = src,
            Destination = dst,
            RowBegin = rowBegin,
            Rows = rows,
            Height = h,
            Width = w,
            Channels = c,
            KernelHeight = kernelHeight,
            KernelWidth = kernelWidth,
            Stride = stride,
            PadTop = padding.Top,
            PadLeft = padding.Left,
            OutHeight = outH,
            OutWidth = outW,
        };
        if (order == ConvWeightLayout.Packed && c % (16 / x.DType.SizeOf()) == 0 && src % 16 == 0 && dst % 16 == 0)
        {
            // 16 bytes per thread: a thread per (patch, tap, vector of channels).
            var vectors = (long)kernelHeight * kernelWidth * (c / (16 / x.DType.SizeOf()));
            return new KernelLaunch<Im2colParams>(SourceFile, $"im2col_hwcv_{suffix}", ElementwiseGrid.For(rows * vectors, maxBlocks), parameters);
        }

        var variant = order == ConvWeightLayout.Packed ? "hwc" : "chw";
        return new KernelLaunch<Im2colParams>(SourceFile, $"im2col_{variant}_{suffix}", ElementwiseGrid.For(rows * c, maxBlocks), parameters); // a thread per channel of a patch
    }
}
