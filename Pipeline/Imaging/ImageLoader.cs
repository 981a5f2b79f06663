using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace CudaI2V.Pipeline.Imaging;

/// <summary>The input image cannot be used; the message says why and which file.</summary>
public sealed class ImageInputException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ImageInputException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }

    /// <summary>Creates the exception.</summary>
    public ImageInputException()
        : this("The image cannot be read.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public ImageInputException(string message)
        : this(message, null)
    {
    }
}

/// <summary>
/// Reads the input image as diffusers' <c>load_image</c> does with PIL: EXIF orientation applied, then converted
/// to RGB (alpha dropped, palettes and greyscale expanded). Decoding uses SixLabors.ImageSharp. The dimensions
/// the header announces are checked before any pixel is decoded, so a crafted file cannot make us allocate
/// gigabytes. PNG, BMP, GIF (first frame), TGA, WebP, TIFF and JPEG are read; only lossless formats give
/// diffusers' exact pixels (JPEG decoders differ in rounding).
/// </summary>
public static class ImageLoader
{
    /// <summary>The largest image accepted, in pixels (64 megapixels, e.g. 8192 x 8192).</summary>
    public const long MaxPixels = 64L * 1024 * 1024;

    /// <summary>The longest side accepted.</summary>
    public const int MaxSide = 16384;

    /// <summary>Reads <paramref name="path"/>.</summary>
    public static RgbImage Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new ImageInputException($"Image not found: {path}.");
        }

        using var stream = File.OpenRead(path);
        return Load(stream, path);
    }

    /// <summary>Reads an image from a seekable stream; <paramref name="name"/> names it in messages.</summary>
    public static RgbImage Load(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        try
        {
            var info = Image.Identify(stream)
                ?? throw new ImageInputException($"{name} is not an image CudaI2V can read (PNG, JPEG, BMP, GIF, TGA, WebP or TIFF).");
            CheckSize(info.Width, info.Height, name);
            stream.Position = 0;
            using var image = Image.Load<Rgb24>(stream);
            image.Mutate(x => x.AutoOrient());
            CheckSize(image.Width, image.Height, name);
            var pixels = new byte[(long)image.Width * image.Height * 3];
            image.CopyPixelDataTo(pixels);
            return new RgbImage(image.Width, image.Height, pixels);
        }
        catch (UnknownImageFormatException e)
        {
            throw new ImageInputException($"{name} is not an image CudaI2V can read (PNG, JPEG, BMP, GIF, TGA, WebP or TIFF).", e);
        }
        catch (InvalidImageContentException e)
        {
            throw new ImageInputException($"{name} is damaged or truncated: {e.Message}", e);
        }
        catch (NotSupportedException e)
        {
            throw new ImageInputException($"{name} uses an image feature CudaI2V cannot decode: {e.Message}", e);
        }
    }

    private static void CheckSize(int width, int height, string name)
    {
        if (width <= 0 || height <= 0 || width > MaxSide || height > MaxSide || (long)width * height > MaxPixels)
        {
            throw new ImageInputException(
                $"{name} announces {width}x{height} pixels; CudaI2V accepts images up to {MaxSide} pixels a side and {MaxPixels / (1024 * 1024)} megapixels.");
        }
    }
}
