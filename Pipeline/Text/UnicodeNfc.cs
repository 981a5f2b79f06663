using System.Collections.Frozen;
using System.Text;

namespace CudaI2V.Pipeline.Text;

/// <summary>
/// Unicode Normalization Form C (canonical decomposition, canonical ordering, canonical composition) over the
/// tables in <see cref="UnicodeNfcTables"/>. CudaI2V runs with invariant globalization (the GPU machine has no
/// ICU), where <see cref="string.Normalize()"/> returns its input unchanged, so the tokenizer brings its own.
/// Lone surrogates become U+FFFD, as they would on the way to UTF-8.
/// </summary>
public static class UnicodeNfc
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Lazy<FrozenDictionary<long, int>> Compositions = new(BuildCompositions);

    /// <summary>The Unicode version of the decomposition and combining-class data.</summary>
    public static string UnicodeVersion => UnicodeNfcTables.UnicodeVersion;

    /// <summary>Returns <paramref name="text"/> in NFC.</summary>
    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);

        // Nothing below U+0300 decomposes into, or composes with, anything below U+0300.
        if (!text.AsSpan().ContainsAnyExceptInRange('\0', '\u02FF'))
        {
            return text;
        }

        var points = new List<int>(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            Decompose(rune.Value, points);
        }

        Reorder(points);
        Compose(points);
        var sb = new StringBuilder(points.Count);
        foreach (var p in points)
        {
            sb.Append(new Rune(p).ToString());
        }

        return sb.ToString();
    }

    /// <summary>The canonical combining class of <paramref name="codePoint"/> (0 for starters).</summary>
    public static int CombiningClass(int codePoint)
    {
        var table = UnicodeNfcTables.CombiningClasses;
        int lo = 0, hi = (table.Length / 3) - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >> 1;
            if (codePoint < table[mid * 3])
            {
                hi = mid - 1;
            }
            else if (codePoint > table[(mid * 3) + 1])
            {
                lo = mid + 1;
            }
            else
            {
                return table[(mid * 3) + 2];
            }
        }

        return 0;
    }

    private static void Decompose(int codePoint, List<int> output)
    {
        if (codePoint is >= SBase and < SBase + SCount)
        {
            var s = codePoint - SBase;
            output.Add(LBase + (s / NCount));
            output.Add(VBase + (s % NCount / TCount));
            if (s % TCount != 0)
            {
                output.Add(TBase + (s % TCount));
            }

            return;
        }

        var row = FindDecomposition(codePoint);
        if (row < 0)
        {
            output.Add(codePoint);
            return;
        }

        var table = UnicodeNfcTables.Decompositions;
        Decompose(table[row + 1], output);
        if (table[row + 2] != 0)
        {
            Decompose(table[row + 2], output);
        }
    }

    private static int FindDecomposition(int codePoint)
    {
        var table = UnicodeNfcTables.Decompositions;
        int lo = 0, hi = (table.Length / 3) - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >> 1;
            var key = table[mid * 3] & ~UnicodeNfcTables.Composes;
            if (key == codePoint)
            {
                return mid * 3;
            }

            if (key < codePoint)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return -1;
    }

    // Canonical ordering: a stable sort by combining class of every run of non-starters.
    private static void Reorder(List<int> points)
    {
        for (var i = 1; i < points.Count; i++)
        {
            var c = CombiningClass(points[i]);
            if (c == 0)
            {
                continue;
            }

            var j = i;
            while (j > 0 && CombiningClass(points[j - 1]) > c)
            {
                (points[j - 1], points[j]) = (points[j], points[j - 1]);
                j--;
            }
        }
    }

    // Canonical composition: each character combines with the last starter when nothing between them blocks it
    // (a blocker is a character of class 0 or of a class at least its own).
    private static void Compose(List<int> points)
    {
        if (points.Count == 0)
        {
            return;
        }

        // lastClass is the class of the last character kept after the starter, 0 when the starter is the last one
        // kept, and 256 (blocks everything) while the text has had no starter yet.
        var starter = 0;
        var lastClass = CombiningClass(points[0]) == 0 ? 0 : 256;
        var write = 1;
        for (var read = 1; read < points.Count; read++)
        {
            var p = points[read];
            var c = CombiningClass(p);
            if ((lastClass < c || lastClass == 0) && TryCompose(points[starter], p, out var composite))
            {
                points[starter] = composite;
                continue;
            }

            if (c == 0)
            {
                starter = write;
            }

            lastClass = c;
            points[write++] = p;
        }

        points.RemoveRange(write, points.Count - write);
    }

    private static bool TryCompose(int first, int second, out int composite)
    {
        if (first is >= LBase and < LBase + LCount && second is >= VBase and < VBase + VCount)
        {
            composite = SBase + (((first - LBase) * VCount) + (second - VBase)) * TCount;
            return true;
        }

        if (first is >= SBase and < SBase + SCount && (first - SBase) % TCount == 0 && second is > TBase and < TBase + TCount)
        {
            composite = first + (second - TBase);
            return true;
        }

        return Compositions.Value.TryGetValue(((long)first << 21) | (uint)second, out composite);
    }

    private static FrozenDictionary<long, int> BuildCompositions()
    {
        var table = UnicodeNfcTables.Decompositions;
        var pairs = new Dictionary<long, int>();
        for (var i = 0; i < table.Length; i += 3)
        {
            if ((table[i] & UnicodeNfcTables.Composes) != 0)
            {
                pairs[((long)table[i + 1] << 21) | (uint)table[i + 2]] = table[i] & ~UnicodeNfcTables.Composes;
            }
        }

        return pairs.ToFrozenDictionary();
    }
}
