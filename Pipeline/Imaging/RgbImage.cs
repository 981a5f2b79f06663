namespace CudaI2V.Pipeline.Imaging;

/// <summary>An 8-bit RGB image: rows top to bottom, pixels left to right, 3 bytes (R, G, B) each.</summary>
public sealed class RgbImage
{
    /// <summary>Wraps <paramref name="pixels"/> (width * height * 3 bytes) without copying.</summary>
    public RgbImage(int width, int height, byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        if (pixels.LongLength != (long)width * height * 3)
        {
            throw new ArgumentException($"A {width}x{height} RGB image needs {(long)width * height * 3} bytes, got {pixels.LongLength}.", nameof(pixels));
        }

        Width = width;
        Height = height;
        Pixels = pixels;
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>The bytes, row-major RGB.</summary>
    public byte[] Pixels { get; }

    /// <summary>A black image.</summary>
    public static RgbImage Black(int width, int height) => new(width, height, new byte[(long)width * height * 3]);

    /// <summary>The byte of channel <paramref name="c"/> at (x, y).</summary>
    public byte this[int x, int y, int c] => Pixels[((((long)y * Width) + x) * 3) + c];
}
