namespace CudaI2V.Pipeline.Output;

/// <summary>
/// The output path is not one CudaI2V can write to (empty, the filesystem root, an unknown extension, a folder where a
/// file is asked, a file where a folder is asked, or .mp4 without ffmpeg): a usage error, raised before any work.
/// </summary>
public sealed class OutputPathException : Exception
{
    /// <summary>Creates the exception.</summary>
    public OutputPathException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public OutputPathException()
        : this("The output path cannot be used.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public OutputPathException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>
/// Checks an output path before a run, so that a long generation never ends in a path it cannot write. The checks
/// create nothing: the folders the path needs are made only when the video is written. Whether a path is usable
/// does not depend on who runs it (root's permissions included): a root, a folder or a missing encoder is refused
/// for everyone.
/// </summary>
public static class OutputPath
{
    /// <summary>
    /// Checks <paramref name="path"/> and returns the format it asks for. Throws <see cref="OutputPathException"/> for a
    /// path that is wrong whoever runs it, and <see cref="VideoOutputException"/> when its folder cannot be written.
    /// <paramref name="ffmpegPath"/> is the encoder <see cref="VideoWriter"/> will use, or null to look on the PATH.
    /// </summary>
    public static VideoFormat Check(string path, string? ffmpegPath = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new OutputPathException("The output path is empty; give a file ending in .gif or .mp4, or a folder/ for PNG frames.");
        }

        string full;
        try
        {
            full = Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new OutputPathException($"The output path '{path}' is not a valid path: {e.Message}", e);
        }

        var trimmed = Path.TrimEndingDirectorySeparator(full);
        if (string.Equals(Path.GetPathRoot(full), full, StringComparison.Ordinal) || Path.GetFileName(trimmed).Length == 0)
        {
            throw new OutputPathException($"The output path '{path}' is the filesystem root; name a file or a folder inside it.");
        }

        VideoFormat format;
        try
        {
            format = VideoWriter.FormatOf(path);
        }
        catch (VideoOutputException e)
        {
            throw new OutputPathException(e.Message, e);
        }

        if (format != VideoFormat.PngFrames && Directory.Exists(trimmed))
        {
            throw new OutputPathException(
                $"The output '{path}' asks for a {format.ToString().ToUpperInvariant()} file, but a folder of that name exists; remove it or choose another name.");
        }

        if (format == VideoFormat.PngFrames && File.Exists(trimmed))
        {
            throw new OutputPathException($"The output '{path}' asks for a folder of PNG frames, but it is a file; remove it or choose another name.");
        }

        if (format == VideoFormat.Mp4 && (ffmpegPath ?? VideoWriter.FindOnPath("ffmpeg")) is null)
        {
            throw new OutputPathException(
                $"The output '{path}' is an .mp4, which needs ffmpeg on the PATH; install it (Debian/Ubuntu: sudo apt-get install ffmpeg), "
                + "or write a .gif or a folder of PNG frames instead.");
        }

        CheckFolderWritable(path, trimmed);
        return format;
    }

    /// <summary>
    /// The nearest existing folder above the output must be a folder we can write to: a probe file is created there
    /// and removed. Folders below it are left to the writer.
    /// </summary>
    private static void CheckFolderWritable(string path, string full)
    {
        var ancestor = Path.GetDirectoryName(full);
        while (ancestor is not null && !Directory.Exists(ancestor))
        {
            if (File.Exists(ancestor))
            {
                throw new OutputPathException($"Cannot write '{path}': {ancestor} is a file, not a folder.");
            }

            ancestor = Path.GetDirectoryName(ancestor);
        }

        if (ancestor is null)
        {
            throw new OutputPathException($"Cannot write '{path}': no folder above it exists.");
        }

        var probe = Path.Combine(ancestor, $".cudai2v-probe-{Guid.NewGuid():N}");
        try
        {
            using (File.Create(probe, 1, FileOptions.DeleteOnClose))
            {
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VideoOutputException($"Cannot write '{path}': the folder {ancestor} is not writable ({e.Message}).", e);
        }
    }
}
