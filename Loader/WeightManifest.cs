using System.Text.Json;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Loader;

/// <summary>One tensor of a weight manifest: key, dtype, shape and (in the fixtures' manifests) the SHA-256 of its bytes.</summary>
public sealed record WeightManifestEntry(string Key, DType DType, TensorShape Shape, string? Sha256);

/// <summary>
/// A list of every tensor of one weight file, as the fixtures' <c>weights-manifest.json</c>,
/// <c>pipeline-tiny/manifests/&lt;component&gt;.json</c> and <c>release-layout/&lt;component&gt;.json</c> give it:
/// <c>{"file": "...", "tensors": {key: {"dtype", "shape", "sha256"?}}}</c>.
/// </summary>
public sealed class WeightManifest
{
    private WeightManifest(string file, IReadOnlyList<WeightManifestEntry> entries)
    {
        File = file;
        Entries = entries;
    }

    /// <summary>The weight file the manifest describes, relative to its model folder.</summary>
    public string File { get; }

    /// <summary>The tensors, in the manifest's order.</summary>
    public IReadOnlyList<WeightManifestEntry> Entries { get; }

    /// <summary>Total element count.</summary>
    public long ParameterCount => Entries.Sum(e => e.Shape.ElementCount);

    /// <summary>Reads a manifest file.</summary>
    public static WeightManifest Load(string path)
    {
        try
        {
            using var document = JsonDocument.Parse(System.IO.File.ReadAllBytes(path));
            var root = document.RootElement;
            var file = root.TryGetProperty("file", out var f) ? f.GetString() ?? "" : "";
            var entries = new List<WeightManifestEntry>();
            foreach (var tensor in root.GetProperty("tensors").EnumerateObject())
            {
                var dtypeName = tensor.Value.GetProperty("dtype").GetString() ?? "";
                if (!DTypes.TryParseSafetensorsName(dtypeName, out var dtype))
                {
                    throw new ModelFileException($"{path}: tensor '{tensor.Name}' has unknown dtype '{dtypeName}'.", path, tensor.Name);
                }

                var dims = tensor.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray();
                var sha = tensor.Value.TryGetProperty("sha256", out var s) ? s.GetString() : null;
                entries.Add(new WeightManifestEntry(tensor.Name, dtype, new TensorShape(dims), sha));
            }

            return new WeightManifest(file, entries);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new ModelFileException($"{path} is not a weight manifest: {e.Message}", path, null, e);
        }
    }
}
