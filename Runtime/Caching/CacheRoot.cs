namespace CudaI2V.Runtime.Caching;

/// <summary>
/// The one folder where CudaI2V keeps what it stores between runs (compiled kernels, built ONNX models, prompt
/// embeddings), each kind in its own sub-folder. It is <c>CUDAI2V_CACHE_DIR</c> when set, otherwise the user's
/// cache folder: <c>$XDG_CACHE_HOME/cudai2v</c> or <c>~/.cache/cudai2v</c> on Linux and macOS,
/// <c>%LOCALAPPDATA%\cudai2v</c> on Windows. Every entry is written under a temporary name and renamed when
/// complete (<see cref="WriteFile"/>, <see cref="Publish"/>), so a crash or a failure never leaves half an entry.
/// </summary>
public sealed class CacheRoot
{
    /// <summary>The environment variable that moves the cache.</summary>
    public const string EnvironmentVariable = "CUDAI2V_CACHE_DIR";

    private const string StagingPrefix = ".staging-";

    /// <summary>Uses <paramref name="path"/> (created when first written to).</summary>
    public CacheRoot(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Path = System.IO.Path.GetFullPath(path);
    }

    /// <summary>The folder.</summary>
    public string Path { get; }

    /// <summary>The cache root of this process's environment (see the class summary).</summary>
    public static CacheRoot FromEnvironment() => new(DefaultPath(Environment.GetEnvironmentVariable));

    /// <summary><paramref name="explicitPath"/> when given (a command's <c>--cache-dir</c>), else <see cref="FromEnvironment"/>.</summary>
    public static CacheRoot Resolve(string? explicitPath) =>
        string.IsNullOrWhiteSpace(explicitPath) ? FromEnvironment() : new CacheRoot(explicitPath);

    /// <summary>The default folder for an environment read through <paramref name="variable"/>.</summary>
    public static string DefaultPath(Func<string, string?> variable)
    {
        ArgumentNullException.ThrowIfNull(variable);
        if (variable(EnvironmentVariable) is { Length: > 0 } configured)
        {
            return configured;
        }

        if (OperatingSystem.IsWindows())
        {
            var local = variable("LOCALAPPDATA") is { Length: > 0 } l ? l : Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
            return System.IO.Path.Combine(local, "cudai2v");
        }

        if (variable("XDG_CACHE_HOME") is { Length: > 0 } xdg && System.IO.Path.IsPathRooted(xdg))
        {
            return System.IO.Path.Combine(xdg, "cudai2v");
        }

        var home = variable("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return System.IO.Path.Combine(home, ".cache", "cudai2v");
    }

    /// <summary>The path of entry <paramref name="name"/> of cache <paramref name="area"/> ("onnx", "prompt-embeddings", ...).</summary>
    public string EntryPath(string area, string name) => System.IO.Path.Combine(Path, area, name);

    /// <summary>
    /// A new empty folder beside the entries of <paramref name="area"/> to build an entry in, then hand to
    /// <see cref="Publish"/>. Staging folders are skipped by readers; ones older than a day (left by a crash) are removed.
    /// </summary>
    public string CreateStaging(string area)
    {
        var folder = System.IO.Path.Combine(Path, area);
        Directory.CreateDirectory(folder);
        foreach (var stale in Directory.GetDirectories(folder, StagingPrefix + "*"))
        {
            if (Directory.GetLastWriteTimeUtc(stale) < DateTime.UtcNow.AddDays(-1))
            {
                TryDeleteDirectory(stale);
            }
        }

        var staging = System.IO.Path.Combine(folder, $"{StagingPrefix}{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        return staging;
    }

    /// <summary>
    /// Renames the finished <paramref name="staging"/> folder to <paramref name="entry"/> in one step. When another
    /// process published the same entry first, keeps that one and deletes the staging folder; returns false then.
    /// </summary>
    public static bool Publish(string staging, string entry)
    {
        ArgumentNullException.ThrowIfNull(staging);
        ArgumentNullException.ThrowIfNull(entry);
        try
        {
            Directory.Move(staging, entry);
            return true;
        }
        catch (IOException) when (Directory.Exists(entry))
        {
            TryDeleteDirectory(staging);
            return false;
        }
    }

    /// <summary>
    /// Writes the file <paramref name="path"/> through <paramref name="write"/> under a temporary name in the same
    /// folder, flushed to disk, then renamed over <paramref name="path"/>; on failure the temporary file is removed.
    /// </summary>
    public static void WriteFile(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(write);
        var folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        Directory.CreateDirectory(folder);
        var temporary = System.IO.Path.Combine(folder, $"{StagingPrefix}{Environment.ProcessId}-{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>Removes a folder tree, ignoring one that is gone or cannot be removed.</summary>
    public static void TryDeleteDirectory(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <inheritdoc/>
    public override string ToString() => Path;
}
