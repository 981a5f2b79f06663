using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CudaI2V.Loader;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Text;

/// <summary>
/// Prompt embeddings by model and prompt: in memory, and optionally on disk under the cache root (area
/// <c>prompt-embeddings</c>, one safetensors file per entry, written under a temporary name and renamed). The key
/// is the SHA-256 of the model's content key and the prompt's token ids, which the prompt and the tokenizer fully
/// decide, so a repeated prompt, or the same negative prompt on every call, is encoded once. Returned tensors are
/// shared: do not write to them. Thread-safe.
/// </summary>
public sealed class PromptEmbeddingCache
{
    /// <summary>The cache area on disk.</summary>
    public const string Area = "prompt-embeddings";

    private const string TensorName = "prompt_embeds";

    private readonly Dictionary<string, Tensor> _memory = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly string _modelKey;
    private readonly CacheRoot? _disk;

    /// <summary>A cache for the model whose content key is <paramref name="modelKey"/>; on disk too when <paramref name="disk"/> is given.</summary>
    public PromptEmbeddingCache(string modelKey, CacheRoot? disk)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelKey);
        _modelKey = modelKey;
        _disk = disk;
    }

    /// <summary>Entries held in memory.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _memory.Count;
            }
        }
    }

    /// <summary>Where the entry of <paramref name="ids"/> lives on disk (null without a disk cache).</summary>
    public string? DiskPath(IReadOnlyList<int> ids) => _disk?.EntryPath(Area, Key(ids) + ".safetensors");

    /// <summary>The embedding of <paramref name="ids"/>: from memory, else from disk, else from <paramref name="encode"/> (then stored).</summary>
    public Tensor GetOrAdd(IReadOnlyList<int> ids, Func<Tensor> encode)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(encode);
        var key = Key(ids);
        lock (_lock)
        {
            if (_memory.TryGetValue(key, out var held))
            {
                return held;
            }

            var path = _disk?.EntryPath(Area, key + ".safetensors");
            var embedding = path is not null && TryRead(path) is { } stored ? stored : null;
            if (embedding is null)
            {
                embedding = encode();
                if (path is not null)
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    SafetensorsWriter.Write(path, [new(TensorName, embedding)], new Dictionary<string, string> { ["model_key"] = _modelKey });
                }
            }

            _memory[key] = embedding;
            return embedding;
        }
    }

    private string Key(IReadOnlyList<int> ids)
    {
        var text = _modelKey + "\n" + string.Join(' ', ids.Select(i => i.ToString(CultureInfo.InvariantCulture)));
        return FileContentHash.Hex(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }

    // An unreadable entry (truncated by a full disk, say) is ignored and written again.
    private static Tensor? TryRead(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            using var file = SafetensorsFile.Open(path);
            return file.Contains(TensorName) ? file.Read(TensorName, DType.F32) : null;
        }
        catch (ModelFileException)
        {
            return null;
        }
    }
}
