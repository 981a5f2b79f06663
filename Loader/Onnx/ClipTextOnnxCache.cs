using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Caching;

namespace CudaI2V.Loader.Onnx;

/// <summary>A built text-encoder ONNX model in the cache.</summary>
/// <param name="Folder">The entry's folder.</param>
/// <param name="Key">The content key (hex SHA-256) the entry is stored under.</param>
/// <param name="Built">True when this call built it; false when it was already there.</param>
/// <param name="IncludesHiddenStates">Whether every hidden state is an output.</param>
public sealed record ClipTextOnnxEntry(string Folder, string Key, bool Built, bool IncludesHiddenStates)
{
    /// <summary>The model file.</summary>
    public string ModelPath => Path.Combine(Folder, ClipTextOnnxModel.ModelFileName);
}

/// <summary>
/// Text-encoder ONNX models under the cache root (area <c>onnx</c>), one folder per key: <c>model.onnx</c>,
/// <c>model.onnx.data</c> and <c>entry.json</c> (what the entry was built from, and the data file's length). The
/// key is the SHA-256 of: <see cref="ClipTextOnnxModel.BuilderVersion"/>, whether hidden states are outputs, the
/// config values the graph depends on, and the SHA-256 of each weight file's bytes (<see cref="FileContentHash"/>:
/// hashed once per file, then remembered by path, length and time). So a copy of the same weights elsewhere finds the
/// same entry, and changed weights, config or builder never find a stale one. An entry is built in a staging folder
/// and renamed into place whole; a failed build leaves nothing behind.
/// </summary>
public static class ClipTextOnnxCache
{
    /// <summary>The cache area.</summary>
    public const string Area = "onnx";

    private const string EntryFileName = "entry.json";

    /// <summary>
    /// The cached model of <paramref name="textEncoder"/>'s weights (variant as <see cref="ComponentFolder.ResolveWeights"/>
    /// chooses, fp32 preferred), building and publishing it first when absent or incomplete.
    /// </summary>
    public static ClipTextOnnxEntry GetOrBuild(
        ComponentFolder textEncoder, WeightVariant? variant, CacheRoot cache, bool includeHiddenStates, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(textEncoder);
        ArgumentNullException.ThrowIfNull(cache);
        if (textEncoder.Kind != ComponentKind.TextEncoder)
        {
            throw new ArgumentException($"The {textEncoder.Kind.FolderName()} component is not a text encoder.", nameof(textEncoder));
        }

        var config = (ClipTextConfig)textEncoder.Config;
        var files = textEncoder.ResolveWeights(variant, WeightVariant.Fp32);
        var key = Key(config, files, cache, includeHiddenStates);
        var folder = cache.EntryPath(Area, $"clip-text-{key[..32]}");
        if (IsComplete(folder, key))
        {
            return new ClipTextOnnxEntry(folder, key, Built: false, includeHiddenStates);
        }

        if (Directory.Exists(folder))
        {
            log?.Invoke($"text encoder: the cached ONNX model {folder} is incomplete; rebuilding it");
            CacheRoot.TryDeleteDirectory(folder);
        }

        var clock = Stopwatch.StartNew();
        var staging = cache.CreateStaging(Area);
        try
        {
            using (var weights = files.Open(ComponentKind.TextEncoder.FolderName()))
            {
                var model = ClipTextOnnxModel.Bind(config, weights, includeHiddenStates);
                var dataLength = model.Write(staging, new Dictionary<string, string> { ["cudai2v_key"] = key });
                WriteEntryFile(staging, key, files, dataLength, includeHiddenStates);
            }

            CacheRoot.Publish(staging, folder);
        }
        catch
        {
            CacheRoot.TryDeleteDirectory(staging);
            throw;
        }

        log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"text encoder: built the ONNX model in {clock.Elapsed.TotalSeconds:F1} s: {folder}"));
        return new ClipTextOnnxEntry(folder, key, Built: true, includeHiddenStates);
    }

    /// <summary>Removes an entry (for example one ONNX Runtime could not load), so the next call rebuilds it.</summary>
    public static void Remove(ClipTextOnnxEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        CacheRoot.TryDeleteDirectory(entry.Folder);
    }

    /// <summary>The content key of a model built from <paramref name="config"/> and <paramref name="files"/>.</summary>
    public static string Key(ClipTextConfig config, WeightFiles files, CacheRoot cache, bool includeHiddenStates)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(files);
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"cudai2v clip-text onnx builder {ClipTextOnnxModel.BuilderVersion}\n");
        sb.Append(CultureInfo.InvariantCulture, $"hidden_states {includeHiddenStates}\n");
        sb.Append(CultureInfo.InvariantCulture,
            $"config {config.HiddenSize} {config.IntermediateSize} {config.NumHiddenLayers} {config.NumAttentionHeads} {config.HiddenAct} "
            + $"{config.LayerNormEps:R} {config.VocabSize} {config.MaxPositionEmbeddings}\n");
        foreach (var file in files.Files.Order(StringComparer.Ordinal))
        {
            sb.Append(CultureInfo.InvariantCulture, $"weights {FileContentHash.Sha256(file, cache)}\n");
        }

        return FileContentHash.Hex(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())));
    }

    private static bool IsComplete(string folder, string key)
    {
        var entryFile = Path.Combine(folder, EntryFileName);
        var data = new FileInfo(Path.Combine(folder, ClipTextOnnxModel.DataFileName));
        if (!File.Exists(entryFile) || !File.Exists(Path.Combine(folder, ClipTextOnnxModel.ModelFileName)) || !data.Exists)
        {
            return false;
        }

        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(entryFile));
            var root = document.RootElement;
            return root.GetProperty("key").GetString() == key && root.GetProperty("data_bytes").GetInt64() == data.Length;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return false;
        }
    }

    private static void WriteEntryFile(string folder, string key, WeightFiles files, long dataLength, bool includeHiddenStates)
    {
        using var stream = new FileStream(Path.Combine(folder, EntryFileName), FileMode.CreateNew, FileAccess.Write);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("key", key);
        json.WriteNumber("builder_version", ClipTextOnnxModel.BuilderVersion);
        json.WriteBoolean("hidden_states", includeHiddenStates);
        json.WriteNumber("data_bytes", dataLength);
        json.WriteString("built_utc", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
        json.WriteStartArray("weights");
        foreach (var file in files.Files)
        {
            json.WriteStringValue(file);
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }
}
