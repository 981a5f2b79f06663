namespace CudaI2V.Pipeline.Imaging;

/// <summary>The two PIL resampling filters the I2VGen-XL pipeline uses.</summary>
public enum PilFilter
{
    /// <summary>PIL's BOX: each output pixel averages the input pixels its area covers (support 0.5).</summary>
    Box,

    /// <summary>PIL's BILINEAR: a triangle filter, widened when shrinking so it antialiases (support 1).</summary>
    Bilinear,
}

/// <summary>
/// Resizing and cropping of 8-bit RGB images with exactly the arithmetic of Pillow's <c>Image.resize</c> and
/// <c>Image.crop</c>, so that the pipeline's inputs match diffusers' bit for bit on lossless images:
/// <list type="bullet">
/// <item>a separable two-pass filter, horizontal first (over only the rows the vertical pass reads), then vertical;</item>
/// <item>per output pixel, the filter is centred at (i + 0.5) * scale, stretched by the scale when shrinking, its
/// weights computed in double and normalised to sum 1, then turned into 22-bit fixed point;</item>
/// <item>each pass accumulates integers from a rounding bias of 2^21 and keeps the top bits, clamped to 0..255.</item>
/// </list>
/// </summary>
public static class PilResample
{
    private const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Resizes <paramref name="image"/> to <paramref name="width"/> x <paramref name="height"/> (a copy when the size is unchanged).</summary>
    public static RgbImage Resize(RgbImage image, int width, int height, PilFilter filter)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        if (width == image.Width && height == image.Height)
        {
            return new RgbImage(width, height, (byte[])image.Pixels.Clone());
        }

        var vertical = Coefficients(image.Height, height, filter);
        var firstRow = vertical.Bounds[0];
        var lastRow = vertical.Bounds[(height - 1) * 2] + vertical.Bounds[((height - 1) * 2) + 1];

        var source = image;
        var rowOffset = 0;
        if (width != image.Width)
        {
            var horizontal = Coefficients(image.Width, width, filter);
            source = Horizontal(image, width, firstRow, lastRow - firstRow, horizontal);
            rowOffset = firstRow;
        }

        return height != image.Height ? Vertical(source, height, rowOffset, vertical) : source;
    }

    /// <summary>
    /// PIL's crop to the box [left, right) x [top, bottom): parts of the box outside the image are black.
    /// </summary>
    public static RgbImage Crop(RgbImage image, int left, int top, int right, int bottom)
    {
        ArgumentNullException.ThrowIfNull(image);
        int width = right - left, height = bottom - top;
        var result = RgbImage.Black(width, height);
        for (var y = 0; y < height; y++)
        {
            var sy = y + top;
            if (sy < 0 || sy >= image.Height)
            {
                continue;
            }

            for (var x = 0; x < width; x++)
            {
                var sx = x + left;
                if (sx >= 0 && sx < image.Width)
                {
                    Array.Copy(image.Pixels, ((long)sy * image.Width + sx) * 3, result.Pixels, ((long)y * width + x) * 3, 3);
                }
            }
        }

        return result;
    }

    private sealed record FilterCoefficients(int KernelSize, int[] Bounds, int[] Weights);

    private static double Evaluate(PilFilter filter, double x) => filter switch
    {
        PilFilter.Box => x > -0.5 && x <= 0.5 ? 1.0 : 0.0,
        PilFilter.Bilinear => Math.Abs(x) < 1.0 ? 1.0 - Math.Abs(x) : 0.0,
        _ => throw new ArgumentOutOfRangeException(nameof(filter)),
    };

    private static double Support(PilFilter filter) => filter == PilFilter.Box ? 0.5 : 1.0;

    /// <summary>For each output index: the first input index, the count, and the fixed-point weights.</summary>
    private static FilterCoefficients Coefficients(int inSize, int outSize, PilFilter filter)
    {
        double scale = (double)inSize / outSize;
        var filterScale = Math.Max(scale, 1.0);
        var support = Support(filter) * filterScale;
        var kernelSize = ((int)Math.Ceiling(support) * 2) + 1;
        var bounds = new int[outSize * 2];
        var weights = new int[outSize * kernelSize];
        var k = new double[kernelSize];
        for (var i = 0; i < outSize; i++)
        {
            var center = (i + 0.5) * scale;
            var inverse = 1.0 / filterScale;

            // C's (int) conversion truncates toward zero; PIL relies on it here.
            var min = Math.Max((int)(center - support + 0.5), 0);
            var count = Math.Min((int)(center + support + 0.5), inSize) - min;
            var total = 0.0;
            for (var x = 0; x < count; x++)
            {
                k[x] = Evaluate(filter, (x + min - center + 0.5) * inverse);
                total += k[x];
            }

            for (var x = 0; x < kernelSize; x++)
            {
                var w = x < count ? (total != 0.0 ? k[x] / total : k[x]) : 0.0;
                weights[(i * kernelSize) + x] = w < 0
                    ? (int)(-0.5 + (w * (1 << PrecisionBits)))
                    : (int)(0.5 + (w * (1 << PrecisionBits)));
            }

            bounds[i * 2] = min;
            bounds[(i * 2) + 1] = count;
        }

        return new FilterCoefficients(kernelSize, bounds, weights);
    }

    private static byte Clip(int value) => (byte)Math.Clamp(value >> PrecisionBits, 0, 255);

    private static RgbImage Horizontal(RgbImage image, int width, int firstRow, int rows, FilterCoefficients c)
    {
        var result = RgbImage.Black(width, rows);
        var src = image.Pixels;
        var dst = result.Pixels;
        for (var y = 0; y < rows; y++)
        {
            var rowStart = (long)(y + firstRow) * image.Width * 3;
            for (var x = 0; x < width; x++)
            {
                // The input pixels of output pixel x are consecutive in the row: 3 bytes apart.
                Filter(src, rowStart + (c.Bounds[x * 2] * 3L), 3, c, x, dst, ((long)y * width + x) * 3);
            }
        }

        return result;
    }

    private static RgbImage Vertical(RgbImage image, int height, int rowOffset, FilterCoefficients c)
    {
        var width = image.Width;
        var result = RgbImage.Black(width, height);
        var src = image.Pixels;
        var dst = result.Pixels;
        for (var y = 0; y < height; y++)
        {
            var min = c.Bounds[y * 2] - rowOffset;
            for (var x = 0; x < width; x++)
            {
                // The input pixels of output row y are in consecutive rows of column x: a row apart.
                Filter(src, ((long)min * width + x) * 3, width * 3L, c, y, dst, ((long)y * width + x) * 3);
            }
        }

        return result;
    }

    /// <summary>
    /// One output pixel of a pass: output index <paramref name="i"/>'s weights (PIL's fixed point, rounded once by
    /// <see cref="Clip"/>) over its input pixels, the first at byte <paramref name="first"/> and the rest
    /// <paramref name="step"/> bytes apart; the RGB result goes to byte <paramref name="output"/> of <paramref name="dst"/>.
    /// </summary>
    private static void Filter(byte[] src, long first, long step, FilterCoefficients c, int i, byte[] dst, long output)
    {
        int count = c.Bounds[(i * 2) + 1], kernel = i * c.KernelSize;
        int r = 1 << (PrecisionBits - 1), g = r, b = r;
        for (var j = 0; j < count; j++)
        {
            var p = first + (j * step);
            var w = c.Weights[kernel + j];
            r += src[p] * w;
            g += src[p + 1] * w;
            b += src[p + 2] * w;
        }

        dst[output] = Clip(r);
        dst[output + 1] = Clip(g);
        dst[output + 2] = Clip(b);
    }
}
