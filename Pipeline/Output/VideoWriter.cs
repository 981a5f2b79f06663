using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using CudaI2V.Pipeline.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace CudaI2V.Pipeline.Output;

/// <summary>What kind of output a path asks for.</summary>
public enum VideoFormat
{
    /// <summary>A folder of PNG frames (frame_0000.png, ...).</summary>
    PngFrames,

    /// <summary>An animated GIF, looping.</summary>
    Gif,

    /// <summary>An H.264 MP4 made by ffmpeg.</summary>
    Mp4,
}

/// <summary>The output cannot be written; the message says why and what to do.</summary>
public sealed class VideoOutputException : Exception
{
    /// <summary>Creates the exception.</summary>
    public VideoOutputException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }

    /// <summary>Creates the exception.</summary>
    public VideoOutputException()
        : this("The video cannot be written.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public VideoOutputException(string message)
        : this(message, null)
    {
    }
}

/// <summary>
/// Writes frames as PNG files, an animated GIF (ImageSharp) or an MP4 (ffmpeg, when it is on the PATH). Every
/// output is written under a temporary name beside its target and renamed when complete, so a failed or
/// cancelled run leaves no partial video.
/// </summary>
public sealed class VideoWriter(string? ffmpegPath = null)
{
    private readonly string? _ffmpeg = ffmpegPath;

    /// <summary>The format a path asks for: ".gif", ".mp4", otherwise a folder of PNG frames.</summary>
    public static VideoFormat FormatOf(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".gif" => VideoFormat.Gif,
            ".mp4" => VideoFormat.Mp4,
            "" => VideoFormat.PngFrames,
            var other => throw new VideoOutputException($"Cannot write '{path}': the output must end in .gif or .mp4, or name a folder for PNG frames (not {other})."),
        };
    }

    /// <summary>The file name of frame <paramref name="index"/> in a frames folder.</summary>
    public static string FrameName(int index) => string.Create(CultureInfo.InvariantCulture, $"frame_{index:D4}.png");

    /// <summary>Writes <paramref name="frames"/> to <paramref name="path"/> in the format its name asks for; returns that format.</summary>
    public VideoFormat Write(string path, IReadOnlyList<RgbImage> frames, double fps, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(frames);
        if (frames.Count == 0)
        {
            throw new ArgumentException("There are no frames to write.", nameof(frames));
        }

        if (!(fps > 0) || double.IsInfinity(fps))
        {
            throw new ArgumentOutOfRangeException(nameof(fps), fps, "The frame rate must be positive.");
        }

        var format = FormatOf(path);
        var full = Path.GetFullPath(path);
        var parent = Path.GetDirectoryName(full.TrimEnd(Path.DirectorySeparatorChar)) ?? ".";
        try
        {
            Directory.CreateDirectory(parent);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VideoOutputException($"Cannot create the folder {parent} for '{path}': {e.Message}", e);
        }

        switch (format)
        {
            case VideoFormat.PngFrames:
                WritePngFrames(full.TrimEnd(Path.DirectorySeparatorChar), frames, cancellation);
                break;
            case VideoFormat.Gif:
                Atomically(full, temporary => WriteGif(temporary, frames, fps, cancellation));
                break;
            case VideoFormat.Mp4:
                Atomically(full, temporary => WriteMp4(temporary, frames, fps, cancellation));
                break;
        }

        return format;
    }

    /// <summary>
    /// Writes one image as a PNG under a temporary name in the same folder, then renames it over <paramref name="path"/>,
    /// so a reader sees the previous file or the new one, never half of one.
    /// </summary>
    public static void WritePng(string path, RgbImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        Atomically(Path.GetFullPath(path), temporary =>
        {
            using var png = ToImageSharp(image);
            png.SaveAsPng(temporary);
        });
    }

    private static void Atomically(string target, Action<string> write)
    {
        var temporary = Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.partial-{Guid.NewGuid():N}{Path.GetExtension(target)}");
        try
        {
            write(temporary);
            File.Move(temporary, target, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VideoOutputException($"Cannot write '{target}': {e.Message}", e);
        }
        finally
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
    }

    private static void WritePngFrames(string folder, IReadOnlyList<RgbImage> frames, CancellationToken cancellation)
    {
        var staging = Path.Combine(Path.GetDirectoryName(folder)!, $".{Path.GetFileName(folder)}.partial-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(staging);
            for (var i = 0; i < frames.Count; i++)
            {
                cancellation.ThrowIfCancellationRequested();
                using var image = ToImageSharp(frames[i]);
                image.SaveAsPng(Path.Combine(staging, FrameName(i)));
            }

            if (!Directory.Exists(folder))
            {
                Directory.Move(staging, folder);
                return;
            }

            foreach (var file in Directory.GetFiles(staging))
            {
                File.Move(file, Path.Combine(folder, Path.GetFileName(file)), overwrite: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VideoOutputException($"Cannot write frames to '{folder}': {e.Message}", e);
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }
    }

    private static void WriteGif(string path, IReadOnlyList<RgbImage> frames, double fps, CancellationToken cancellation)
    {
        // GIF delays are in hundredths of a second.
        var delay = Math.Max(1, (int)Math.Round(100.0 / fps, MidpointRounding.AwayFromZero));
        using var gif = ToImageSharp(frames[0]);
        gif.Metadata.GetGifMetadata().RepeatCount = 0;
        gif.Frames.RootFrame.Metadata.GetGifMetadata().FrameDelay = delay;
        for (var i = 1; i < frames.Count; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            using var frame = ToImageSharp(frames[i]);
            var added = gif.Frames.AddFrame(frame.Frames.RootFrame);
            added.Metadata.GetGifMetadata().FrameDelay = delay;
        }

        gif.SaveAsGif(path);
    }

    private void WriteMp4(string path, IReadOnlyList<RgbImage> frames, double fps, CancellationToken cancellation)
    {
        var ffmpeg = _ffmpeg ?? FindOnPath("ffmpeg")
            ?? throw new VideoOutputException(
                "Writing .mp4 needs ffmpeg, which is not on the PATH. Install it (Debian/Ubuntu: sudo apt-get install ffmpeg; "
                + "Windows: winget install ffmpeg; macOS: brew install ffmpeg), or write a .gif or a folder of PNG frames instead.");
        var staging = Path.Combine(Path.GetTempPath(), $"cudai2v-mp4-{Guid.NewGuid():N}");
        try
        {
            WritePngFrames(staging, frames, cancellation);
            var start = new ProcessStartInfo(ffmpeg)
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            foreach (var arg in new[]
            {
                "-y", "-loglevel", "error", "-framerate", fps.ToString(CultureInfo.InvariantCulture),
                "-i", Path.Combine(staging, "frame_%04d.png"),
                "-c:v", "libx264", "-pix_fmt", "yuv420p", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-f", "mp4", path,
            })
            {
                start.ArgumentList.Add(arg);
            }

            using var process = Process.Start(start) ?? throw new VideoOutputException($"Could not start {ffmpeg}.");
            var errors = process.StandardError.ReadToEndAsync(cancellation);
            using (cancellation.Register(() => process.Kill(entireProcessTree: true)))
            {
                process.WaitForExit();
            }

            cancellation.ThrowIfCancellationRequested();
            if (process.ExitCode != 0)
            {
                throw new VideoOutputException($"ffmpeg failed (exit code {process.ExitCode}): {errors.Result.Trim()}");
            }
        }
        catch (Win32Exception e)
        {
            throw new VideoOutputException($"Could not run ffmpeg ({ffmpeg}): {e.Message}. Install ffmpeg or write a .gif instead.", e);
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }
    }

    /// <summary>The full path of the executable <paramref name="name"/> on the PATH, or null.</summary>
    internal static string? FindOnPath(string name)
    {
        var exe = OperatingSystem.IsWindows() ? name + ".exe" : name;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, exe);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static Image<Rgb24> ToImageSharp(RgbImage frame) => Image.LoadPixelData<Rgb24>(frame.Pixels, frame.Width, frame.Height);
}
