using System.Globalization;
using System.Text.Json;
using CudaI2V.Loader.Json;

namespace CudaI2V.Loader.Configs;

/// <summary>
/// Reads typed values from one JSON config file and remembers which keys were read, so that every key the
/// config type does not know is kept and reported (<see cref="UnknownKeys"/>) rather than silently dropped.
/// The file is parsed strictly (<see cref="StrictJson"/>) and each value's kind is checked before it is read; the
/// ranged readers refuse a value outside what the model can use. Each failure is a <see cref="ModelFileException"/>
/// naming the file, the key and the expected type or range.
/// </summary>
internal sealed class ConfigReader
{
    private readonly Dictionary<string, JsonElement> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    private ConfigReader(string path, JsonElement root)
    {
        Path = path;
        foreach (var property in root.EnumerateObject())
        {
            _values[property.Name] = property.Value.Clone();
        }
    }

    public string Path { get; }

    /// <summary>A reader for a file that is absent and optional: every value takes its default.</summary>
    public static ConfigReader Empty(string path)
    {
        using var document = JsonDocument.Parse("{}");
        return new ConfigReader(path, document.RootElement);
    }

    public static ConfigReader Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new ModelFileException($"Config file not found: {path}.", path);
        }

        using var document = ParseFile(path);
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFileException($"{path} must hold a JSON object, found {document.RootElement.ValueKind}.", path);
        }

        return new ConfigReader(path, document.RootElement);
    }

    /// <summary>The largest JSON file read (a CLIP vocab.json or tokenizer.json is a few MB).</summary>
    public const long MaxJsonBytes = 64L * 1024 * 1024;

    /// <summary>Parses a model folder's JSON file strictly, after checking it is a regular file of bounded size.</summary>
    public static JsonDocument ParseFile(string path)
    {
        InputFile.RequireModelFile(path, "JSON file");
        return StrictJson.ParseFile(path, MaxJsonBytes, PythonJson.QuoteNonFinite);
    }

    public bool Has(string key) => _values.TryGetValue(key, out var v) && v.ValueKind != JsonValueKind.Null;

    /// <summary>Marks keys as known although nothing reads them (bookkeeping fields such as versions).</summary>
    public void Known(params string[] keys)
    {
        foreach (var k in keys)
        {
            _read.Add(k);
        }
    }

    /// <summary>Keys present in the file that nothing read, with their raw JSON text.</summary>
    public IReadOnlyDictionary<string, string> UnknownKeys() =>
        _values.Where(p => !_read.Contains(p.Key))
            .OrderBy(p => p.Key, StringComparer.Ordinal)
            .ToDictionary(p => p.Key, p => p.Value.GetRawText(), StringComparer.Ordinal);

    private JsonElement? Get(string key)
    {
        _read.Add(key);
        return _values.TryGetValue(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;
    }

    private ModelFileException Bad(string key, string expected, JsonElement value) =>
        new($"{Path}: '{key}' must be {expected}, found {value.GetRawText()}.", Path, key);

    public ModelFileException Missing(string key, string expected) =>
        new($"{Path}: the required field '{key}' ({expected}) is missing.", Path, key);

    public int Int(string key, int fallback) => Get(key) is { } v ? ToInt(key, v) : fallback;

    public int? OptionalInt(string key) => Get(key) is { } v ? ToInt(key, v) : null;

    public int RequireInt(string key) => Get(key) is { } v ? ToInt(key, v) : throw Missing(key, "an integer");

    public double Double(string key, double fallback) => Get(key) is { } v ? ToDouble(key, v) : fallback;

    public double? OptionalDouble(string key) => Get(key) is { } v ? ToDouble(key, v) : null;

    public bool Bool(string key, bool fallback)
    {
        if (Get(key) is not { } v)
        {
            return fallback;
        }

        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Bad(key, "true or false", v),
        };
    }

    public string String(string key, string fallback) => OptionalString(key) ?? fallback;

    public string? OptionalString(string key)
    {
        if (Get(key) is not { } v)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Bad(key, "a string", v);
    }

    public string RequireString(string key) => OptionalString(key) ?? throw Missing(key, "a string");

    public IReadOnlyList<int> IntList(string key, IReadOnlyList<int>? fallback)
    {
        if (Get(key) is not { } v)
        {
            return fallback ?? throw Missing(key, "a list of integers");
        }

        if (v.ValueKind != JsonValueKind.Array)
        {
            throw Bad(key, "a list of integers", v);
        }

        return v.EnumerateArray().Select(e => ToInt(key, e)).ToArray();
    }

    public IReadOnlyList<double> DoubleList(string key, IReadOnlyList<double>? fallback)
    {
        if (Get(key) is not { } v)
        {
            return fallback ?? throw Missing(key, "a list of numbers");
        }

        if (v.ValueKind != JsonValueKind.Array)
        {
            throw Bad(key, "a list of numbers", v);
        }

        return v.EnumerateArray().Select(e => ToDouble(key, e)).ToArray();
    }

    public IReadOnlyList<string> StringList(string key, IReadOnlyList<string>? fallback)
    {
        if (Get(key) is not { } v)
        {
            return fallback ?? throw Missing(key, "a list of strings");
        }

        if (v.ValueKind != JsonValueKind.Array || v.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
        {
            throw Bad(key, "a list of strings", v);
        }

        return v.EnumerateArray().Select(e => e.GetString()!).ToArray();
    }

    /// <summary>An object value (or null when absent), for nested settings such as crop_size.</summary>
    public JsonElement? Object(string key)
    {
        if (Get(key) is not { } v)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.Object ? v : throw Bad(key, "an object", v);
    }

    /// <summary>The raw value, whatever its kind (null when absent).</summary>
    public JsonElement? Raw(string key) => Get(key);

    public TEnum Enum<TEnum>(string key, TEnum fallback, IReadOnlyDictionary<string, TEnum> names)
        where TEnum : struct
    {
        var text = OptionalString(key);
        if (text is null)
        {
            return fallback;
        }

        return names.TryGetValue(text, out var value)
            ? value
            : throw new ModelFileException(
                $"{Path}: '{key}' is \"{text}\"; CudaI2V supports {string.Join(", ", names.Keys.Select(n => $"\"{n}\""))}.",
                Path, key);
    }

    private int ToInt(string key, JsonElement v) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : throw Bad(key, "an integer", v);

    /// <summary>A JSON number (finite), or one of the non-finite words Python writes (<see cref="PythonJson"/>).</summary>
    private double ToDouble(string key, JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Number when v.TryGetDouble(out var d) && double.IsFinite(d) => d,
        JsonValueKind.String when PythonJson.NonFinite(v.GetString()!) is { } literal => literal,
        _ => throw Bad(key, "a finite number", v),
    };

    /// <summary>An integer in [<paramref name="min"/>, <paramref name="max"/>], or <paramref name="fallback"/> when absent.</summary>
    public int Int(string key, int fallback, int min, int max) => InRange(key, Int(key, fallback), min, max);

    /// <summary>An integer in [<paramref name="min"/>, <paramref name="max"/>], or null when absent.</summary>
    public int? OptionalInt(string key, int min, int max) => OptionalInt(key) is { } v ? InRange(key, v, min, max) : null;

    /// <summary>A number in [<paramref name="min"/>, <paramref name="max"/>] (above <paramref name="min"/> when <paramref name="minExclusive"/>).</summary>
    public double Double(string key, double fallback, double min, double max, bool minExclusive = false)
    {
        var value = Double(key, fallback);
        Check(value <= max && (minExclusive ? value > min : value >= min), key,
            $"a number {(minExclusive ? "above" : "from")} {Format(min)}{(minExclusive ? " and at most" : " to")} {Format(max)}", Format(value));
        return value;
    }

    /// <summary>A list of 1 to <paramref name="maxCount"/> integers, each in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public IReadOnlyList<int> IntList(string key, IReadOnlyList<int>? fallback, int min, int max, int maxCount)
    {
        var values = IntList(key, fallback);
        Check(values.Count is > 0 && values.Count <= maxCount, key, $"a list of 1 to {maxCount} integers", values.Count + " values");
        foreach (var v in values)
        {
            InRange(key, v, min, max);
        }

        return values;
    }

    /// <summary>Throws naming the file, the key and what is allowed when <paramref name="ok"/> is false.</summary>
    public void Check(bool ok, string key, string allowed, object found)
    {
        if (!ok)
        {
            var text = found is double d ? Format(d) : Convert.ToString(found, CultureInfo.InvariantCulture);
            throw new ModelFileException($"{Path}: '{key}' must be {allowed}, found {text}.", Path, key);
        }
    }

    private int InRange(string key, int value, int min, int max)
    {
        Check(value >= min && value <= max, key, $"an integer from {min} to {max}", value);
        return value;
    }

    /// <summary>
    /// The block lists of a UNet or VAE config describe one level each: block_out_channels, down_block_types and
    /// up_block_types must have the same non-zero length.
    /// </summary>
    public void RequireSameLevels(IReadOnlyList<int> channels, IReadOnlyList<string> down, IReadOnlyList<string> up)
    {
        if (channels.Count == 0 || down.Count != channels.Count || up.Count != channels.Count)
        {
            throw new ModelFileException(
                $"{Path}: block_out_channels ({channels.Count}), down_block_types ({down.Count}) and up_block_types ({up.Count}) must have the same non-zero length.",
                Path, "block_out_channels");
        }
    }

    public static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
