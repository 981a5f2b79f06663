using System.Buffers.Binary;
using System.Text.Json;
using CudaI2V.Loader.Json;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Loader.Safetensors;

/// <summary>
/// Parses and validates a safetensors header: an 8-byte little-endian length, then that many bytes of JSON
/// mapping each tensor name to {dtype, shape, data_offsets}, plus an optional "__metadata__" map of strings.
/// Every rule is checked before any tensor data is used; each failure is a <see cref="ModelFileException"/> naming
/// the file and the tensor: the JSON is parsed strictly (<see cref="StrictJson"/>) and every value's kind is checked
/// before it is read.
/// </summary>
internal static class SafetensorsHeader
{
    /// <summary>The format's own limit on the header size (100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public const string MetadataKey = "__metadata__";

    /// <summary>The most dimensions a tensor may have (the model's have at most 5).</summary>
    public const int MaxRank = 8;

    /// <summary>Reads the header of <paramref name="stream"/> (positioned at 0) and checks it against the file size.</summary>
    public static (List<SafetensorsEntry> Entries, Dictionary<string, string> Metadata, long DataStart) Read(
        Stream stream, string path)
    {
        var fileLength = stream.Length;
        if (fileLength < 8)
        {
            throw new ModelFileException(
                $"{path} is {fileLength} bytes long; a safetensors file starts with an 8-byte header length.", path);
        }

        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > MaxHeaderBytes || (long)headerLength > fileLength - 8)
        {
            throw new ModelFileException(
                $"{path}: the header claims {headerLength} bytes but the file has only {fileLength - 8} after the length field (truncated or not a safetensors file).",
                path);
        }

        var header = new byte[headerLength];
        stream.ReadExactly(header);
        var dataStart = 8 + (long)headerLength;
        var (entries, metadata) = Parse(header, path, fileLength - dataStart);
        return (entries, metadata, dataStart);
    }

    private static (List<SafetensorsEntry>, Dictionary<string, string>) Parse(byte[] header, string path, long dataLength)
    {
        // Strictly parsed: valid UTF-8, every name and string decodable, so nothing below can fail on text.
        using (var document = StrictJson.Parse(header, path))
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ModelFileException(
                    $"{path}: the header must be a JSON object, found {document.RootElement.ValueKind}.", path);
            }

            var entries = new List<SafetensorsEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!names.Add(property.Name))
                {
                    throw new ModelFileException($"{path}: tensor '{property.Name}' appears twice in the header.", path, property.Name);
                }

                if (property.Name == MetadataKey)
                {
                    ReadMetadata(property.Value, path, metadata);
                    continue;
                }

                entries.Add(ReadEntry(property.Name, property.Value, path, dataLength));
            }

            CheckLayout(entries, path, dataLength);
            return (entries, metadata);
        }
    }

    private static void ReadMetadata(JsonElement value, string path, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFileException($"{path}: '{MetadataKey}' must be an object of strings.", path, MetadataKey);
        }

        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
            {
                throw new ModelFileException(
                    $"{path}: metadata value '{item.Name}' must be a string, found {item.Value.ValueKind}.", path, MetadataKey);
            }

            metadata[item.Name] = item.Value.GetString()!;
        }
    }

    private static SafetensorsEntry ReadEntry(string name, JsonElement value, string path, long dataLength)
    {
        ModelFileException Bad(string what) => new($"{path}: tensor '{name}': {what}", path, name);

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw Bad($"expected an object with dtype, shape and data_offsets, found {value.ValueKind}.");
        }

        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
        {
            throw Bad("missing the string field 'dtype'.");
        }

        var dtypeName = dtypeElement.GetString()!;
        if (!DTypes.TryParseSafetensorsName(dtypeName, out var dtype))
        {
            throw Bad($"unknown dtype '{dtypeName}' (supported: F32, F16, BF16, I64, I32, U8, BOOL).");
        }

        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
        {
            throw Bad("missing the array field 'shape'.");
        }

        if (shapeElement.GetArrayLength() > MaxRank)
        {
            throw Bad($"shape {shapeElement.GetRawText()} has more than {MaxRank} dimensions.");
        }

        var dims = new List<int>();
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out var dim) || dim < 0)
            {
                throw Bad($"shape {shapeElement.GetRawText()} must list non-negative integers.");
            }

            dims.Add(dim);
        }

        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array
            || offsets.GetArrayLength() != 2
            || offsets[0].ValueKind != JsonValueKind.Number || offsets[1].ValueKind != JsonValueKind.Number
            || !offsets[0].TryGetInt64(out var begin) || !offsets[1].TryGetInt64(out var end)
            || begin < 0 || end < begin)
        {
            throw Bad("'data_offsets' must be two integers [begin, end] with 0 <= begin <= end.");
        }

        TensorShape shape;
        long expectedBytes;
        try
        {
            shape = new TensorShape(dims.ToArray());
            expectedBytes = checked(shape.ElementCount * dtype.SizeOf());
        }
        catch (OverflowException)
        {
            throw Bad($"shape {shapeElement.GetRawText()} is too large.");
        }

        if (expectedBytes != end - begin)
        {
            throw Bad($"shape {shape} of {dtypeName} needs {expectedBytes} bytes but data_offsets [{begin}, {end}] give {end - begin}.");
        }

        if (end > dataLength)
        {
            throw Bad($"data_offsets [{begin}, {end}] lie outside the data section of {dataLength} bytes (truncated file?).");
        }

        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    /// <summary>Tensors must tile the data section exactly: no overlap, no gap, nothing left over.</summary>
    private static void CheckLayout(List<SafetensorsEntry> entries, string path, long dataLength)
    {
        var ordered = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long position = 0;
        SafetensorsEntry? previous = null;
        foreach (var entry in ordered)
        {
            if (entry.Begin < position)
            {
                throw new ModelFileException(
                    $"{path}: tensor '{entry.Name}' [{entry.Begin}, {entry.End}) overlaps tensor '{previous!.Name}' [{previous.Begin}, {previous.End}).",
                    path, entry.Name);
            }

            if (entry.Begin > position)
            {
                var after = previous is null ? "the start of the data section" : $"tensor '{previous.Name}'";
                throw new ModelFileException(
                    $"{path}: {entry.Begin - position} unused bytes between {after} and tensor '{entry.Name}' (offsets leave a gap).",
                    path, entry.Name);
            }

            position = entry.End;
            previous = entry;
        }

        if (position != dataLength)
        {
            throw new ModelFileException(
                $"{path}: the tensors cover {position} bytes but the data section holds {dataLength} (offsets leave a gap at the end).",
                path);
        }
    }

    /// <summary>Builds the header bytes for a writer: JSON, padded with spaces to a multiple of 8.</summary>
    public static byte[] Build(IEnumerable<SafetensorsEntry> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    json.WriteString(k, v);
                }

                json.WriteEndObject();
            }

            foreach (var entry in entries)
            {
                json.WriteStartObject(entry.Name);
                json.WriteString("dtype", entry.DType.SafetensorsName());
                json.WriteStartArray("shape");
                foreach (var d in entry.Shape)
                {
                    json.WriteNumberValue(d);
                }

                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(entry.Begin);
                json.WriteNumberValue(entry.End);
                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        var bytes = buffer.ToArray();
        var padded = (bytes.Length + 7) / 8 * 8;
        var result = new byte[padded];
        bytes.CopyTo(result, 0);
        result.AsSpan(bytes.Length).Fill((byte)' ');
        return result;
    }

}
