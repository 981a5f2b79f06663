using System.Text;

namespace CudaI2V.Loader.Configs;

/// <summary>
/// Python's <c>json.dump</c> (which diffusers' <c>save_config</c> uses) writes the non-finite floats as the bare words
/// <c>NaN</c>, <c>Infinity</c> and <c>-Infinity</c>, which are not JSON: a DPMSolverMultistepScheduler config saved by
/// diffusers holds <c>"lambda_min_clipped": -Infinity</c>. Before parsing, each such bare word (outside strings) becomes
/// a marked string that <see cref="ConfigReader"/> reads back as the number wherever it expects one.
/// </summary>
internal static class PythonJson
{
    private const char Mark = '\u0001';

    private static readonly string[] Words = ["-Infinity", "Infinity", "NaN"];

    /// <summary>The text with every bare NaN, Infinity and -Infinity outside strings written as a marked string.</summary>
    public static string QuoteNonFinite(string text)
    {
        if (!text.Contains("Infinity", StringComparison.Ordinal) && !text.Contains("NaN", StringComparison.Ordinal))
        {
            return text;
        }

        var result = new StringBuilder(text.Length + 16);
        var inString = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (inString)
            {
                result.Append(c);
                if (c == '\\' && i + 1 < text.Length)
                {
                    result.Append(text[++i]);
                }
                else if (c == '"')
                {
                    inString = false;
                }

                continue;
            }

            if (c == '"')
            {
                inString = true;
                result.Append(c);
                continue;
            }

            var word = Words.FirstOrDefault(w => string.CompareOrdinal(text, i, w, 0, w.Length) == 0 && (i + w.Length == text.Length || !char.IsLetterOrDigit(text[i + w.Length])));
            if (word is not null && (i == 0 || !char.IsLetterOrDigit(text[i - 1])))
            {
                result.Append("\"\\u0001").Append(word).Append('"');
                i += word.Length - 1;
                continue;
            }

            result.Append(c);
        }

        return result.ToString();
    }

    /// <summary>The number a marked string stands for, or null when <paramref name="value"/> is an ordinary string.</summary>
    public static double? NonFinite(string value) => value.Length > 1 && value[0] == Mark
        ? value[1..] switch
        {
            "-Infinity" => double.NegativeInfinity,
            "Infinity" => double.PositiveInfinity,
            "NaN" => double.NaN,
            _ => null,
        }
        : null;
}
