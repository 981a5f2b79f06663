using System.Globalization;

namespace CudaI2V.Pipeline.MemoryPlanning;

/// <summary>Sizes as people write them: "24GiB", "8 GiB", "512MiB", "1.5GiB", "6GB" (powers of 1000), or plain bytes.</summary>
public static class ByteSize
{
    private static readonly (string Unit, double Bytes)[] Units =
    [
        ("TiB", 1L << 40), ("GiB", 1L << 30), ("MiB", 1L << 20), ("KiB", 1L << 10),
        ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3), ("B", 1),
    ];

    /// <summary>The units accepted, for messages.</summary>
    public const string Accepted = "a size such as 24GiB, 8GiB, 512MiB or 6GB";

    /// <summary>Reads <paramref name="text"/> as a positive size in bytes; false when it is not one.</summary>
    public static bool TryParse(string? text, out long bytes)
    {
        bytes = 0;
        var trimmed = text?.Trim() ?? "";
        var scale = 1.0;
        foreach (var (unit, unitBytes) in Units)
        {
            if (trimmed.EndsWith(unit, StringComparison.OrdinalIgnoreCase))
            {
                trimmed = trimmed[..^unit.Length].TrimEnd();
                scale = unitBytes;
                break;
            }
        }

        if (!double.TryParse(trimmed, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) || !(value > 0) || value * scale >= long.MaxValue)
        {
            return false;
        }

        bytes = (long)Math.Round(value * scale);
        return bytes > 0;
    }
}
