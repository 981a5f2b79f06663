namespace CudaI2V.Loader;

/// <summary>
/// The check every file CudaI2V reads passes before it is opened: it exists, is not a folder, and is a regular
/// file with contents. A pipe, socket or device has no size, so it is refused here instead of blocking the open
/// or streaming forever.
/// </summary>
public static class InputFile
{
    /// <summary>What is wrong with <paramref name="path"/> as a file to read, or null when nothing is.</summary>
    public static string? Problem(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path))
        {
            return $"{path} is a folder, not a file";
        }

        var info = new FileInfo(path);
        if (!info.Exists)
        {
            return $"{path} does not exist";
        }

        // A FIFO, socket or device reports a size of 0; so does an empty file, which no reader accepts either.
        return info.Length == 0 ? $"{path} is empty or not a regular file (a pipe, socket or device)" : null;
    }

    /// <summary>Throws a <see cref="ModelFileException"/> when <paramref name="path"/> is not a readable regular file.</summary>
    public static void RequireModelFile(string path, string what)
    {
        if (Problem(path) is { } problem)
        {
            throw new ModelFileException($"Cannot read the {what}: {problem}.", path);
        }
    }
}
