using CudaI2V.Loader;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Tiff;
using SixLabors.ImageSharp.Metadata;
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
/// to RGB (alpha dropped, palettes and greyscale expanded). Decoding uses SixLabors.ImageSharp. The file must be a
/// regular file (a pipe or device is refused before it is opened), its header's dimensions are checked before any
/// pixel is decoded, and only the first frame of a multi-frame GIF or TIFF is decoded, so a small crafted file
/// cannot make us allocate gigabytes. PNG, BMP, GIF, TGA, WebP, TIFF and JPEG are read; only lossless formats give
/// diffusers' exact pixels (JPEG decoders differ in rounding).
/// </summary>
public static class ImageLoader
{
    /// <summary>The largest image accepted, in pixels (64 megapixels, e.g. 8192 x 8192); also the bound on any resized intermediate.</summary>
    public const long MaxPixels = 64L * 1024 * 1024;

    /// <summary>The longest side accepted.</summary>
    public const int MaxSide = 16384;

    private const string Formats = "PNG, JPEG, BMP, GIF, TGA, WebP or TIFF";

    /// <summary>Reads <paramref name="path"/>.</summary>
    public static RgbImage Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path) && !Directory.Exists(path))
        {
            throw new ImageInputException($"Image not found: {path}.");
        }

        if (InputFile.Problem(path) is { } problem)
        {
            throw new ImageInputException($"Cannot read the image: {problem}.");
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
            var info = Image.Identify(stream, out var format)
                ?? throw new ImageInputException($"{name} is not an image CudaI2V can read ({Formats}).");
            CheckSize(info.Width, info.Height, name);
            stream.Position = 0;
            using var image = Image.Load<Rgb24>(stream, FirstFrameDecoder(format));
            while (image.Frames.Count > 1)
            {
                image.Frames.RemoveFrame(image.Frames.Count - 1);
            }

            CheckSize(image.Width, image.Height, name);
            image.Mutate(x => x.AutoOrient());
            var pixels = new byte[(long)image.Width * image.Height * 3];
            image.CopyPixelDataTo(pixels);
            return new RgbImage(image.Width, image.Height, pixels);
        }
        catch (UnknownImageFormatException e)
        {
            throw new ImageInputException($"{name} is not an image CudaI2V can read ({Formats}).", e);
        }
        catch (InvalidImageContentException e)
        {
            throw new ImageInputException($"{name} is damaged or truncated: {e.Message}", e);
        }
        catch (ImageFormatException e)
        {
            throw new ImageInputException($"{name} is damaged or truncated: {e.Message}", e);
        }
        catch (NotSupportedException e)
        {
            throw new ImageInputException($"{name} uses an image feature CudaI2V cannot decode: {e.Message}", e);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or NullReferenceException or IndexOutOfRangeException
            or OverflowException or DivideByZeroException or EndOfStreamException)
        {
            // ImageSharp 2.1's decoders meet some corrupt headers and truncated data with these instead of their own
            // exception types (the fuzzer of tests/Fuzz found each); every one means the file cannot be decoded.
            throw new ImageInputException($"{name} is damaged or truncated (the decoder failed with {e.GetType().Name}: {e.Message})", e);
        }
    }

    /// <summary>
    /// The decoder for <paramref name="format"/>, set to decode only the first frame where the format has several
    /// (GIF, TIFF): an animation's later frames are never used, and each would be decoded at the full canvas size.
    /// </summary>
    private static IImageDecoder FirstFrameDecoder(IImageFormat? format)
    {
        if (format is GifFormat)
        {
            return new GifDecoder { DecodingMode = FrameDecodingMode.First };
        }

        if (format is TiffFormat)
        {
            return new TiffDecoder { DecodingMode = FrameDecodingMode.First };
        }

        return format is null
            ? throw new UnknownImageFormatException("The image format is not recognised.")
            : Configuration.Default.ImageFormatsManager.FindDecoder(format)
                ?? throw new UnknownImageFormatException($"No decoder for {format.Name}.");
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
