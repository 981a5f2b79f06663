using System.Globalization;
using System.Text;

namespace CudaI2V.Pipeline.Text;

/// <summary>
/// The text clean-up and pre-tokenisation of transformers' CLIP tokenizer (its <c>tokenizer.json</c>): NFC, every
/// run of white space to one space, lower case; then CLIP's split pattern
/// <c>&lt;\|startoftext\|&gt;|&lt;\|endoftext\|&gt;|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+</c>
/// keeping the matches and dropping the white space between them. It is written out rather than run as a
/// <see cref="System.Text.RegularExpressions.Regex"/> because .NET's regex sees a letter outside the BMP as two
/// surrogates, not as a letter.
/// </summary>
public static class ClipTextNormalizer
{
    private static readonly string[] Contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];
    private static readonly string[] SpecialWords = ["<|startoftext|>", "<|endoftext|>"];

    /// <summary>NFC, white-space runs to one space, then (when <paramref name="lowerCase"/>) lower case.</summary>
    public static string Normalize(string text, bool lowerCase)
    {
        ArgumentNullException.ThrowIfNull(text);
        var nfc = UnicodeNfc.Normalize(text);
        var sb = new StringBuilder(nfc.Length);
        var inSpace = false;
        foreach (var rune in nfc.EnumerateRunes())
        {
            if (IsWhiteSpace(rune.Value))
            {
                if (!inSpace)
                {
                    sb.Append(' ');
                }

                inSpace = true;
                continue;
            }

            inSpace = false;
            sb.Append(rune.ToString());
        }

        return lowerCase ? ToLower(sb.ToString()) : sb.ToString();
    }

    /// <summary>
    /// Splits normalised text into the pieces BPE works on. A piece that spells a special token is split once more
    /// into <c>&lt;|</c>, the word and <c>|&gt;</c>, as the byte-level step of the reference tokenizer does; the
    /// special tokens themselves are matched before normalisation (<see cref="ClipTokenizer"/>).
    /// </summary>
    public static List<string> PreTokenize(string normalized)
    {
        ArgumentNullException.ThrowIfNull(normalized);
        var pieces = new List<string>();
        var i = 0;
        while (i < normalized.Length)
        {
            var rune = RuneAt(normalized, i, out var length);
            if (IsWhiteSpace(rune.Value))
            {
                i += length;
                continue;
            }

            var special = SpecialWords.FirstOrDefault(w => normalized.AsSpan(i).StartsWith(w, StringComparison.Ordinal));
            if (special is not null)
            {
                pieces.Add("<|");
                pieces.Add(special[2..^2]);
                pieces.Add("|>");
                i += special.Length;
                continue;
            }

            var contraction = Contractions.FirstOrDefault(c => normalized.AsSpan(i).StartsWith(c, StringComparison.Ordinal));
            if (contraction is not null)
            {
                pieces.Add(contraction);
                i += contraction.Length;
                continue;
            }

            var start = i;
            var kind = KindOf(rune);
            if (kind == CharKind.Number)
            {
                i += length;
            }
            else
            {
                while (i < normalized.Length)
                {
                    var next = RuneAt(normalized, i, out var nextLength);
                    if (KindOf(next) != kind)
                    {
                        break;
                    }

                    i += nextLength;
                }
            }

            pieces.Add(normalized[start..i]);
        }

        return pieces;
    }

    /// <summary>Unicode's White_Space property (what <c>\s</c> means in the reference tokenizer's patterns).</summary>
    public static bool IsWhiteSpace(int codePoint) => codePoint switch
    {
        >= 0x09 and <= 0x0D or 0x20 or 0x85 or 0xA0 or 0x1680 or (>= 0x2000 and <= 0x200A)
            or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000 => true,
        _ => false,
    };

    private enum CharKind
    {
        Letter,
        Number,
        Other,
        Space,
    }

    private static CharKind KindOf(Rune rune)
    {
        if (IsWhiteSpace(rune.Value))
        {
            return CharKind.Space;
        }

        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CharKind.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CharKind.Number,
            _ => CharKind.Other,
        };
    }

    /// <summary>
    /// Full lower-case mapping as Rust's and Python's <c>lower</c> do it: .NET's invariant simple mapping, plus the
    /// two rules it lacks, U+0130 to "i" + U+0307 and a word-final capital sigma to U+03C2.
    /// </summary>
    private static string ToLower(string text)
    {
        var sb = new StringBuilder(text.Length);
        var i = 0;
        while (i < text.Length)
        {
            var rune = RuneAt(text, i, out var length);
            if (rune.Value == 0x130)
            {
                sb.Append("i\u0307");
            }
            else if (rune.Value == 0x3A3)
            {
                sb.Append(IsFinalSigma(text, i) ? '\u03C2' : '\u03C3');
            }
            else
            {
                sb.Append(Rune.ToLowerInvariant(rune).ToString());
            }

            i += length;
        }

        return sb.ToString();
    }

    // Final_Sigma: a cased letter before (skipping case-ignorable characters) and none after.
    private static bool IsFinalSigma(string text, int index)
    {
        var before = false;
        for (var j = index; j > 0;)
        {
            Rune.DecodeLastFromUtf16(text.AsSpan(0, j), out var rune, out var length);
            j -= length;
            if (IsCaseIgnorable(rune))
            {
                continue;
            }

            before = IsCased(rune);
            break;
        }

        if (!before)
        {
            return false;
        }

        for (var j = index + 1; j < text.Length;)
        {
            var rune = RuneAt(text, j, out var length);
            j += length;
            if (IsCaseIgnorable(rune))
            {
                continue;
            }

            return !IsCased(rune);
        }

        return true;
    }

    // The character at index, U+FFFD for a lone surrogate (which then counts one UTF-16 unit).
    private static Rune RuneAt(string text, int index, out int length)
    {
        Rune.DecodeFromUtf16(text.AsSpan(index), out var rune, out length);
        return rune;
    }

    private static bool IsCased(Rune rune) => Rune.GetUnicodeCategory(rune)
        is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter;

    private static bool IsCaseIgnorable(Rune rune) =>
        Rune.GetUnicodeCategory(rune) is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format
            or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol
        || rune.Value is '\'' or '.' or ':' or 0xB7 or 0x2018 or 0x2019 or 0x2024 or 0x2027 or 0xFE13 or 0xFE52 or 0xFE55 or 0xFF07 or 0xFF0E or 0xFF1A;
}
