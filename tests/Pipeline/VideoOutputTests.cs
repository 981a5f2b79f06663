using CudaI2V.Pipeline.Imaging;
using CudaI2V.Pipeline.Output;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace CudaI2V.Tests.Pipeline;

/// <summary>8-bit conversion and the PNG, GIF and MP4 writers.</summary>
public sealed class VideoOutputTests
{
    private readonly string _dir = Fixtures.TempFolder("video-out");

    private static IReadOnlyList<RgbImage> Frames(int count, int width = 6, int height = 4) =>
        [.. Enumerable.Range(0, count).Select(f => new RgbImage(width, height, [.. Enumerable.Range(0, width * height * 3).Select(i => (byte)((i * 7) + (f * 40)))]))];

    [Fact]
    public void Frames_round_like_numpy_with_ties_to_even()
    {
        // 0.5/255 * 255 = 0.5 -> 0; 1.5/255 * 255 -> 2; values are clamped to [0, 1] first by Denormalize.
        var video = Tensor.FromArray(new float[] { 0.5f / 255f, 1.5f / 255f, 1f, 0f, 0.25f, 0.75f }, 1, 1, 2, 3);
        var frame = VideoFrames.ToImages(video)[0];
        Assert.Equal(new byte[] { (byte)MathF.Round(0.5f / 255f * 255f, MidpointRounding.ToEven), (byte)MathF.Round(1.5f / 255f * 255f, MidpointRounding.ToEven), 255, 0, 64, 191 }, frame.Pixels);
        var denormalized = VideoFrames.Denormalize(Tensor.FromArray(new float[] { -3f, -1f, 0f, 1f, 3f, 0.5f }, 1, 1, 2, 3));
        Assert.Equal(new float[] { 0f, 0f, 0.5f, 1f, 1f, 0.75f }, denormalized.ToFloat32Array());
    }

    [Fact]
    public void Png_frames_are_written_into_a_folder()
    {
        var folder = Path.Combine(_dir, "frames");
        var frames = Frames(3);
        Assert.Equal(VideoFormat.PngFrames, new VideoWriter().Write(folder, frames, 16, TestContext.Current.CancellationToken));
        Assert.Equal(["frame_0000.png", "frame_0001.png", "frame_0002.png"], Directory.GetFiles(folder).Select(Path.GetFileName).Order());
        using var first = Image.Load<Rgb24>(Path.Combine(folder, "frame_0001.png"));
        var pixels = new byte[6 * 4 * 3];
        first.CopyPixelDataTo(pixels);
        Assert.Equal(frames[1].Pixels, pixels);
        Assert.Empty(Directory.GetDirectories(_dir, ".*partial*"));
    }

    [Fact]
    public void Gif_has_every_frame_at_the_frame_rate_and_loops()
    {
        var path = Path.Combine(_dir, "video.gif");
        Assert.Equal(VideoFormat.Gif, new VideoWriter().Write(path, Frames(4), fps: 8, TestContext.Current.CancellationToken));
        using var gif = Image.Load<Rgb24>(path);
        Assert.Equal(4, gif.Frames.Count);
        Assert.Equal((6, 4), (gif.Width, gif.Height));
        Assert.Equal(13, gif.Frames[1].Metadata.GetGifMetadata().FrameDelay);
        Assert.Equal(0, gif.Metadata.GetGifMetadata().RepeatCount);
        Assert.Single(Directory.GetFiles(_dir));
    }

    [Fact]
    public void Mp4_without_ffmpeg_says_how_to_install_it_and_leaves_nothing()
    {
        var path = Path.Combine(_dir, "video.mp4");
        var e = Assert.Throws<VideoOutputException>(() => new VideoWriter(Path.Combine(_dir, "no-ffmpeg-here")).Write(path, Frames(2), 16, TestContext.Current.CancellationToken));
        Assert.Contains("ffmpeg", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public void Mp4_runs_ffmpeg_on_numbered_png_frames_and_renames_its_output()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Skip("The stand-in ffmpeg is a shell script.");
            return;
        }

        // A stand-in ffmpeg that records its arguments, checks the frames exist, and writes the output file.
        var fake = Path.Combine(_dir, "fake-ffmpeg.sh");
        var log = Path.Combine(_dir, "args.txt");
        File.WriteAllText(fake, $"#!/bin/sh\necho \"$@\" > {log}\nfor last; do :; done\nls \"$(dirname \"$7\")\" > {log}.frames\necho mp4 > \"$last\"\n");
        File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var output = Path.Combine(_dir, "out", "video.mp4");
        Assert.Equal(VideoFormat.Mp4, new VideoWriter(fake).Write(output, Frames(3), 12.5, TestContext.Current.CancellationToken));
        Assert.Equal("mp4\n", File.ReadAllText(output));
        var args = File.ReadAllText(log);
        Assert.Contains("-framerate 12.5", args, StringComparison.Ordinal);
        Assert.Contains("frame_%04d.png", args, StringComparison.Ordinal);
        Assert.Contains("-pix_fmt yuv420p", args, StringComparison.Ordinal);
        Assert.Equal(["frame_0000.png", "frame_0001.png", "frame_0002.png"], File.ReadAllLines(log + ".frames"));
        Assert.Single(Directory.GetFiles(Path.Combine(_dir, "out")));

        // A failing ffmpeg leaves nothing behind and reports its message.
        File.WriteAllText(fake, "#!/bin/sh\necho 'Unknown encoder libx264' >&2\nexit 1\n");
        var failed = Path.Combine(_dir, "out", "failed.mp4");
        var e = Assert.Throws<VideoOutputException>(() => new VideoWriter(fake).Write(failed, Frames(2), 16, TestContext.Current.CancellationToken));
        Assert.Contains("Unknown encoder libx264", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(failed));
        Assert.Single(Directory.GetFiles(Path.Combine(_dir, "out")));
    }

    [Fact]
    public void Cancelled_writes_leave_no_partial_output()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => new VideoWriter().Write(Path.Combine(_dir, "c.gif"), Frames(3), 16, cancelled.Token));
        Assert.ThrowsAny<OperationCanceledException>(() => new VideoWriter().Write(Path.Combine(_dir, "c"), Frames(3), 16, cancelled.Token));
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public void Unknown_extensions_are_refused()
    {
        Assert.Throws<VideoOutputException>(() => VideoWriter.FormatOf("video.avi"));
        Assert.Equal(VideoFormat.Mp4, VideoWriter.FormatOf("clip.MP4"));
    }
}
