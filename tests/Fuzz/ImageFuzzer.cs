using System.Buffers.Binary;
using CudaI2V.Pipeline.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.PixelFormats;

namespace CudaI2V.Tests.Fuzz;

/// <summary>
/// Small valid images of every format the loader reads, with their headers mutated: dimension fields set to
/// extreme values, bytes flipped, the file cut short or extended. Each case is read by <see cref="ImageLoader"/>
/// and, when it loads, prepared for the VAE at the tiny pipeline's size.
/// </summary>
public sealed class ImageFuzzer
{
    private readonly List<(string Format, byte[] Bytes)> _seeds = [];

    /// <summary>Encodes the seed images.</summary>
    public ImageFuzzer()
    {
        using var image = new Image<Rgb24>(8, 6);
        for (var y = 0; y < 6; y++)
        {
            for (var x = 0; x < 8; x++)
            {
                image[x, y] = new Rgb24((byte)(x * 30), (byte)(y * 40), 128);
            }
        }

        Add("png", s => image.SaveAsPng(s));
        Add("bmp", s => image.SaveAsBmp(s));
        Add("jpeg", s => image.SaveAsJpeg(s));
        Add("tga", s => image.SaveAsTga(s));
        Add("tiff", s => image.SaveAsTiff(s));
        Add("webp", s => image.SaveAsWebp(s));
        using var animated = image.Clone();
        using (var second = image.Clone())
        {
            animated.Frames.AddFrame(second.Frames.RootFrame);
        }

        Add("gif", s => animated.SaveAsGif(s, new GifEncoder()));
    }

    /// <summary>Builds case bytes; returns them and what was mutated.</summary>
    public (byte[] Bytes, string What) Make(FuzzRandom random)
    {
        var (format, seed) = random.Pick(_seeds);
        var bytes = seed.ToArray();
        var what = format;
        var mutations = 1 + random.Next(3);
        for (var m = 0; m < mutations; m++)
        {
            var at = random.Next(Math.Clamp(bytes.Length, 1, 64));
            switch (random.Next(5))
            {
                case 0 when at + 4 <= bytes.Length:
                    var value = random.Pick(new uint[] { 0, 1, 0xFFFF, 0x7FFF, 0x4000, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF, 16384, 16385, 8193 });
                    if (random.Chance(0.5))
                    {
                        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(at), value);
                    }
                    else
                    {
                        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), value);
                    }

                    what += $"; {value} at {at}";
                    break;
                case 1 when at + 2 <= bytes.Length:
                    var half = random.Pick(new ushort[] { 0, 1, 0xFFFF, 0x4000, 16384, 256 });
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(at), half);
                    what += $"; u16 {half} at {at}";
                    break;
                case 2:
                    var cut = random.Next(bytes.Length + 1);
                    bytes = bytes[..cut];
                    what += $"; cut to {cut}";
                    break;
                case 3:
                    bytes = [.. bytes, .. new byte[1 + random.Next(64)]];
                    what += "; extended";
                    break;
                default:
                    if (bytes.Length > 0)
                    {
                        at = random.Next(bytes.Length);
                        bytes[at] ^= (byte)(1 << random.Next(8));
                        what += $"; bit flip at {at}";
                    }

                    break;
            }
        }

        return (bytes, what);
    }

    /// <summary>What generate does with the image: read it and prepare the VAE's input.</summary>
    public static void Load(byte[] bytes)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        var image = ImageLoader.Load(stream, "fuzz case");
        _ = ImagePreprocessor.VaePixels(image, 56, 40);
    }

    private void Add(string format, Action<Stream> save)
    {
        using var stream = new MemoryStream();
        save(stream);
        _seeds.Add((format, stream.ToArray()));
    }
}
