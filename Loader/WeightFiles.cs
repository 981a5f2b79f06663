using System.Text.Json;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Loader;

/// <summary>Which weight file to load where a folder ships both precisions.</summary>
public enum WeightVariant
{
    /// <summary>The plain file (<c>model.safetensors</c>), normally fp32.</summary>
    Fp32,

    /// <summary>The <c>fp16</c> variant (<c>model.fp16.safetensors</c>).</summary>
    Fp16,
}

/// <summary>The weight files of one component, as resolved from its folder.</summary>
/// <param name="Files">The safetensors files (one, or the shards of an index).</param>
/// <param name="IndexFile">The shard index (<c>….safetensors.index.json</c>), when sharded.</param>
/// <param name="Variant">The variant these files are.</param>
/// <param name="WeightMap">Key to shard file name, when sharded.</param>
public sealed record WeightFiles(
    IReadOnlyList<string> Files, string? IndexFile, WeightVariant Variant, IReadOnlyDictionary<string, string>? WeightMap)
{
    /// <summary>
    /// The variant to prefer when the user names none, for a backend storing weights in <paramref name="activationDType"/>:
    /// the fp32 file for an fp32 backend (the CPU reference, an fp32 VAE), the fp16 file otherwise (fp16 and bf16 on the GPU).
    /// </summary>
    public static WeightVariant DefaultFor(DType activationDType) => activationDType == DType.F32 ? WeightVariant.Fp32 : WeightVariant.Fp16;

    /// <summary>
    /// Finds the weights of <paramref name="kind"/> in <paramref name="folder"/>. With <paramref name="requested"/>
    /// set, only that variant is accepted; otherwise <paramref name="preferred"/> is tried first, then the other.
    /// </summary>
    public static WeightFiles Resolve(string folder, ComponentKind kind, WeightVariant? requested, WeightVariant preferred)
    {
        var order = requested is { } r ? [r] : new[] { preferred, preferred == WeightVariant.Fp16 ? WeightVariant.Fp32 : WeightVariant.Fp16 };
        var lookedFor = new List<string>();
        foreach (var variant in order)
        {
            var found = TryVariant(folder, kind, variant, lookedFor);
            if (found is not null)
            {
                return found;
            }
        }

        var pickles = Directory.Exists(folder) ? Directory.GetFiles(folder, "*.bin").Select(Path.GetFileName).ToList() : [];
        var which = requested is { } v ? $"the {v.ToString().ToLowerInvariant()} variant of the " : "";
        var message = $"No {which}{kind.FolderName()} weights in {folder}: looked for {string.Join(", ", lookedFor)}.";
        if (pickles.Count > 0)
        {
            message += $" The folder has PyTorch pickle files ({string.Join(", ", pickles)}), which CudaI2V does not load: use the .safetensors files the release ships.";
        }

        throw new ModelFileException(message, folder);
    }

    private static WeightFiles? TryVariant(string folder, ComponentKind kind, WeightVariant variant, List<string> lookedFor)
    {
        var baseName = kind.WeightBaseName();
        var suffix = variant == WeightVariant.Fp16 ? ".fp16" : "";
        var single = $"{baseName}{suffix}.safetensors";
        lookedFor.Add(single);
        var singlePath = Path.Combine(folder, single);
        if (File.Exists(singlePath))
        {
            return new WeightFiles([singlePath], null, variant, null);
        }

        // diffusers and transformers put the variant before ".json" (model.safetensors.index.fp16.json); accept
        // the other spelling (model.fp16.safetensors.index.json) too.
        var indexNames = variant == WeightVariant.Fp16
            ? new[] { $"{baseName}.safetensors.index.fp16.json", $"{baseName}.fp16.safetensors.index.json" }
            : new[] { $"{baseName}.safetensors.index.json" };
        foreach (var indexName in indexNames)
        {
            lookedFor.Add(indexName);
            var indexPath = Path.Combine(folder, indexName);
            if (File.Exists(indexPath))
            {
                return ReadIndex(folder, indexPath, variant);
            }
        }

        return null;
    }

    private static WeightFiles ReadIndex(string folder, string indexPath, WeightVariant variant)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        using (var document = ConfigReader.ParseFile(indexPath))
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("weight_map", out var weightMap) || weightMap.ValueKind != JsonValueKind.Object)
            {
                throw new ModelFileException($"{indexPath} is not a shard index: it needs a 'weight_map' object of tensor name -> file name.", indexPath);
            }

            foreach (var item in weightMap.EnumerateObject())
            {
                map[item.Name] = item.Value.ValueKind == JsonValueKind.String
                    ? item.Value.GetString()!
                    : throw new ModelFileException($"{indexPath}: weight_map entry '{item.Name}' must be a file name, found {item.Value.GetRawText()}.", indexPath, item.Name);
            }
        }

        if (map.Count == 0)
        {
            throw new ModelFileException($"{indexPath}: 'weight_map' is empty.", indexPath);
        }

        var files = new List<string>();
        foreach (var name in map.Values.Distinct(StringComparer.Ordinal))
        {
            if (name.Contains('/', StringComparison.Ordinal) || name.Contains('\\', StringComparison.Ordinal) || name.Contains("..", StringComparison.Ordinal))
            {
                throw new ModelFileException($"{indexPath}: shard name '{name}' must be a plain file name in the same folder.", indexPath);
            }

            var path = Path.Combine(folder, name);
            if (!File.Exists(path))
            {
                throw new ModelFileException($"{indexPath} lists shard {name}, which is not in {folder}.", path);
            }

            files.Add(path);
        }

        return new WeightFiles(files, indexPath, variant, map);
    }

    /// <summary>
    /// Opens the files as one <see cref="WeightSet"/>; for a sharded set, also checks that every key is in the
    /// shard the index names and that no shard holds a key the index does not list.
    /// </summary>
    public WeightSet Open(string component, WeightAliases? aliases = null)
    {
        var set = WeightSet.Open(component, Files, aliases);
        if (WeightMap is null)
        {
            return set;
        }

        try
        {
            foreach (var (key, shard) in WeightMap)
            {
                if (!set.Contains(key) || Path.GetFileName(set.FileOf(key)) != shard)
                {
                    throw new ModelFileException($"{IndexFile} maps '{key}' to {shard}, which does not hold it.", IndexFile, key);
                }
            }

            var extra = set.Keys.Where(k => !WeightMap.ContainsKey(k)).ToList();
            if (extra.Count > 0)
            {
                throw new ModelFileException(
                    $"{IndexFile} does not list {extra.Count} tensor(s) found in its shards: {string.Join(", ", extra.Take(10))}.", IndexFile, extra[0]);
            }

            return set;
        }
        catch
        {
            set.Dispose();
            throw;
        }
    }
}
