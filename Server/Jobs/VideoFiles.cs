using System.IO.Compression;

namespace CudaI2V.Server.Jobs;

/// <summary>The files of a finished job's video, by format: <c>mp4</c>, <c>gif</c>, or <c>png-zip</c> (its frames as PNG files in a zip).</summary>
public static class VideoFiles
{
    /// <summary>The formats <c>?format=</c> accepts.</summary>
    public static readonly string[] Formats = ["mp4", "gif", "png-zip"];

    /// <summary>True when ffmpeg is on the PATH (the worker then writes an MP4 as well).</summary>
    public static bool FfmpegAvailable() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, OperatingSystem.IsWindows() ? "ffmpeg.exe" : "ffmpeg")));

    /// <summary>The media type of a format.</summary>
    public static string ContentType(string format) => format switch
    {
        "mp4" => "video/mp4",
        "gif" => "image/gif",
        _ => "application/zip",
    };

    /// <summary>
    /// The file of <paramref name="job"/>'s video in <paramref name="format"/> under its output folder; the zip of the
    /// frames is made on first request (under a temporary name, then renamed).
    /// </summary>
    public static string PathOf(JobStore store, Job job, string format)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(job);
        var folder = store.OutputFolder(job.Id);
        switch (format)
        {
            case "mp4":
                return Path.Combine(folder, "video.mp4");
            case "gif":
                return Path.Combine(folder, "video.gif");
            default:
                var zip = Path.Combine(folder, "frames.zip");
                if (!File.Exists(zip))
                {
                    var temporary = Path.Combine(folder, $".frames.zip.partial-{Guid.NewGuid():N}");
                    ZipFile.CreateFromDirectory(Path.Combine(folder, "frames"), temporary, CompressionLevel.Fastest, includeBaseDirectory: false);
                    File.Move(temporary, zip, overwrite: true);
                }

                return zip;
        }
    }
}
