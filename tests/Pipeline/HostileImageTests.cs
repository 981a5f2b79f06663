using System.Diagnostics;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Pipeline;

/// <summary>Images that are small files but huge work, and inputs that are not files at all.</summary>
public sealed class HostileImageTests
{
    private readonly string _dir = Fixtures.TempFolder("hostile-image");

    [Fact]
    public void An_animation_of_many_tiny_frames_on_a_large_canvas_decodes_only_its_first_frame()
    {
        // 600 frames of 1x1 on a 3000x3000 canvas: a 9 KB file that, every frame decoded at canvas size, would take 16 GB.
        var bytes = AnimatedGif(3000, 3000, frames: 600);
        Assert.True(bytes.Length < 10_000);
        using var stream = new MemoryStream(bytes);
        var image = ImageLoader.Load(stream, "many-frames.gif");
        Assert.Equal((3000, 3000), (image.Width, image.Height));
    }

    [Fact]
    public void An_image_too_far_from_the_videos_shape_is_refused_before_resizing()
    {
        // A 16384x2 strip is within the size limits, but covering 1280x704 would need a 5.8-million-pixel-wide intermediate.
        var strip = new RgbImage(16384, 2, new byte[16384 * 2 * 3]);
        var e = Assert.Throws<ImageInputException>(() => ImagePreprocessor.VaePixels(strip, 1280, 704));
        Assert.Contains("aspect ratio", e.Message, StringComparison.Ordinal);
        var fine = ImagePreprocessor.VaePixels(new RgbImage(560, 400, new byte[560 * 400 * 3]), 56, 40);
        Assert.Equal(new CudaI2V.Runtime.Tensors.TensorShape(1, 3, 40, 56), fine.Shape);
    }

    [Fact]
    public void A_folder_an_empty_file_or_a_pipe_is_refused_without_blocking()
    {
        Assert.Contains("is a folder", Assert.Throws<ImageInputException>(() => ImageLoader.Load(_dir)).Message, StringComparison.Ordinal);
        var empty = Path.Combine(_dir, "empty.png");
        File.WriteAllBytes(empty, []);
        Assert.Contains("not a regular file", Assert.Throws<ImageInputException>(() => ImageLoader.Load(empty)).Message, StringComparison.Ordinal);

        var fifo = Path.Combine(_dir, "pipe.png");
        MakeFifo(fifo);
        Assert.SkipUnless(File.Exists(fifo), "mkfifo made no pipe on this system");
        Assert.Contains("not a regular file", Assert.Throws<ImageInputException>(() => ImageLoader.Load(fifo)).Message, StringComparison.Ordinal);
    }

    /// <summary>Makes a named pipe with mkfifo; the test is skipped where it cannot.</summary>
    internal static void MakeFifo(string path)
    {
        try
        {
            using var mkfifo = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false });
            mkfifo?.WaitForExit();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Assert.Skip($"mkfifo could not be run: {e.Message}");
        }
    }

    /// <summary>
    /// A GIF89a with a <paramref name="width"/> x <paramref name="height"/> canvas, a 2-colour table and
    /// <paramref name="frames"/> frames of one pixel each.
    /// </summary>
    internal static byte[] AnimatedGif(int width, int height, int frames)
    {
        var bytes = new List<byte>();
        bytes.AddRange("GIF89a"u8.ToArray());
        bytes.AddRange([(byte)width, (byte)(width >> 8), (byte)height, (byte)(height >> 8), 0xF0, 0, 0]);
        bytes.AddRange([0, 0, 0, 255, 255, 255]);
        for (var f = 0; f < frames; f++)
        {
            // Image descriptor at (0, 0), 1x1, then LZW (minimum code size 2): clear, index 0, end.
            bytes.AddRange([0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0]);
            bytes.AddRange([2, 2, 0x44, 0x01, 0]);
        }

        bytes.Add(0x3B);
        return [.. bytes];
    }
}
