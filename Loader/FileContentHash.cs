using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CudaI2V.Runtime.Caching;

namespace CudaI2V.Loader;

/// <summary>
/// SHA-256 of a file's bytes, remembered under the cache root (area <c>file-hashes</c>) by the file's identity:
/// its full path, length and last-write time. A cache keyed by content then costs one read of a large weight
/// file the first time it is seen and nothing after, while an edited or replaced file (new length or time)
/// is read and hashed again.
/// </summary>
public static class FileContentHash
{
    /// <summary>The cache area of remembered hashes.</summary>
    public const string Area = "file-hashes";

    /// <summary>The lower-case hex SHA-256 of <paramref name="path"/>'s bytes.</summary>
    public static string Sha256(string path, CacheRoot? memo = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var info = new FileInfo(Path.GetFullPath(path));
        if (!info.Exists)
        {
            throw new ModelFileException($"File not found: {info.FullName}.", info.FullName);
        }

        var identity = string.Create(CultureInfo.InvariantCulture, $"{info.FullName}\n{info.Length}\n{info.LastWriteTimeUtc.Ticks}");
        var memoPath = memo?.EntryPath(Area, Hex(SHA256.HashData(Encoding.UTF8.GetBytes(identity))));
        if (memoPath is not null && File.Exists(memoPath))
        {
            var remembered = File.ReadAllText(memoPath).Trim();
            if (remembered.Length == 64 && remembered.All(char.IsAsciiHexDigitLower))
            {
                return remembered;
            }
        }

        string hash;
        using (var stream = new FileStream(info.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20))
        {
            hash = Hex(SHA256.HashData(stream));
        }

        if (memoPath is not null)
        {
            CacheRoot.WriteFile(memoPath, s => s.Write(Encoding.ASCII.GetBytes(hash)));
        }

        return hash;
    }

    /// <summary>Lower-case hex of <paramref name="bytes"/>.</summary>
    public static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);
}
