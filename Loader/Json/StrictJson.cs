using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace CudaI2V.Loader.Json;

/// <summary>
/// Parses JSON from an untrusted file so that reading it afterwards cannot fail on text: the bytes must be valid
/// UTF-8, the document well formed and at most <see cref="MaxDepth"/> deep, and every property name and string
/// value must decode (no lone surrogate escape such as "\ud800"). Every failure is a <see cref="ModelFileException"/>
/// naming the file and, for a bad string, where in the document it sits. Callers still check each value's
/// <see cref="JsonElement.ValueKind"/> before reading it.
/// </summary>
public static class StrictJson
{
    /// <summary>The deepest nesting accepted (configs nest two or three levels).</summary>
    public const int MaxDepth = 64;

    /// <summary>Parses <paramref name="utf8"/>, the contents of <paramref name="path"/>; the caller disposes the document.</summary>
    public static JsonDocument Parse(ReadOnlyMemory<byte> utf8, string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!Utf8.IsValid(utf8.Span))
        {
            throw new ModelFileException(
                $"{path} is not valid UTF-8 (first bad byte at offset {FirstInvalidByte(utf8.Span)}); JSON files must be UTF-8 text.", path);
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8, new JsonDocumentOptions { MaxDepth = MaxDepth });
        }
        catch (JsonException e)
        {
            throw new ModelFileException($"{path} is not valid JSON: {e.Message}", path, null, e);
        }

        try
        {
            CheckStrings(document.RootElement, "$", path);
            return document;
        }
        catch
        {
            document.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads and parses the file at <paramref name="path"/> (which the caller has checked exists); valid UTF-8 text is
    /// first passed through <paramref name="rewrite"/> when one is given (the config reader's Python literals).
    /// </summary>
    public static JsonDocument ParseFile(string path, long maxBytes, Func<string, string>? rewrite = null)
    {
        var length = new FileInfo(path).Length;
        if (length > maxBytes)
        {
            throw new ModelFileException($"{path} is {length} bytes; CudaI2V reads JSON files of up to {maxBytes} bytes.", path);
        }

        var bytes = File.ReadAllBytes(path);
        if (rewrite is not null && Utf8.IsValid(bytes))
        {
            bytes = Encoding.UTF8.GetBytes(rewrite(Encoding.UTF8.GetString(bytes)));
        }

        return Parse(bytes, path);
    }

    private static void CheckStrings(JsonElement element, string where, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                Decode(() => element.GetString(), where, path);
                break;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in element.EnumerateArray())
                {
                    CheckStrings(item, $"{where}[{i++}]", path);
                }

                break;
            case JsonValueKind.Object:
                var n = 0;
                foreach (var property in element.EnumerateObject())
                {
                    var name = Decode(() => property.Name, $"{where} (property {n})", path);
                    CheckStrings(property.Value, $"{where}.{name}", path);
                    n++;
                }

                break;
        }
    }

    private static string Decode(Func<string?> read, string where, string path)
    {
        try
        {
            return read() ?? "";
        }
        catch (InvalidOperationException e)
        {
            throw new ModelFileException(
                $"{path}: the string at {where} cannot be decoded ({e.Message.TrimEnd('.')}); it holds an invalid escape such as a lone surrogate.",
                path, where, e);
        }
    }

    private static int FirstInvalidByte(ReadOnlySpan<byte> bytes)
    {
        var offset = 0;
        while (offset < bytes.Length)
        {
            if (Rune.DecodeFromUtf8(bytes[offset..], out _, out var consumed) != System.Buffers.OperationStatus.Done)
            {
                return offset;
            }

            offset += consumed;
        }

        return offset;
    }
}
