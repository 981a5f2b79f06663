using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Loader;

/// <summary>
/// The tensors of one model component by state-dict key, from one or more safetensors files (shards). Layers
/// take the keys they need; taking marks a key used. After a model is built, <see cref="EnsureAllUsed"/> fails on
/// any key never taken (except <see cref="IgnoredBuffers"/>), so a model consumes every weight of its file.
/// Keys can also be reached under the older names of an alias map (<see cref="WeightAliases"/>).
/// </summary>
public sealed class WeightSet : IDisposable
{
    private readonly Dictionary<string, Func<Tensor>> _sources;
    private readonly Dictionary<string, TensorShape> _shapes;
    private readonly Dictionary<string, DType> _dtypes;
    private readonly HashSet<string> _taken = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _origin = new(StringComparer.Ordinal);
    private readonly List<SafetensorsFile> _files;
    private readonly WeightAliases _aliases;

    private WeightSet(string component, List<SafetensorsFile> files, WeightAliases aliases)
    {
        Component = component;
        _files = files;
        _aliases = aliases;
        _sources = new(StringComparer.Ordinal);
        _shapes = new(StringComparer.Ordinal);
        _dtypes = new(StringComparer.Ordinal);
    }

    /// <summary>
    /// Buffers that some files carry but that hold no weights, so no model takes them: matched on the key's last
    /// segment. transformers' CLIP files written before version 4.31 store <c>…embeddings.position_ids</c>.
    /// </summary>
    public static IReadOnlyList<string> IgnoredBuffers { get; } = ["position_ids"];

    /// <summary>The component name ("unet", "vae", ...), used in messages.</summary>
    public string Component { get; }

    /// <summary>Every key, ordered.</summary>
    public IEnumerable<string> Keys => _sources.Keys.Order(StringComparer.Ordinal);

    /// <summary>Number of tensors.</summary>
    public int Count => _sources.Count;

    /// <summary>Total number of elements over all tensors (buffers included).</summary>
    public long ParameterCount => _shapes.Values.Sum(s => s.ElementCount);

    /// <summary>Opens the given files as one set; a key found in two files is an error.</summary>
    public static WeightSet Open(string component, IReadOnlyList<string> files, WeightAliases? aliases = null)
    {
        ArgumentNullException.ThrowIfNull(files);
        var opened = new List<SafetensorsFile>();
        var set = new WeightSet(component, opened, aliases ?? WeightAliases.None);
        try
        {
            var origin = set._origin;
            foreach (var path in files)
            {
                var file = SafetensorsFile.Open(path);
                opened.Add(file);
                foreach (var entry in file.Entries)
                {
                    if (origin.TryGetValue(entry.Name, out var first))
                    {
                        throw new ModelFileException(
                            $"Tensor '{entry.Name}' of {component} is in both {first} and {path}.", path, entry.Name);
                    }

                    if (!IsIgnoredBuffer(entry.Name) && entry.DType is not (DType.F32 or DType.F16 or DType.BF16))
                    {
                        throw new ModelFileException(
                            $"{path}: tensor '{entry.Name}' of {component} is {entry.DType.SafetensorsName()}; the model's weights must be F32, F16 or BF16.",
                            path, entry.Name);
                    }

                    origin[entry.Name] = path;
                    var name = entry.Name;
                    set.Add(name, entry.Shape, entry.DType, () => file.GetTensor(name));
                }
            }

            return set;
        }
        catch
        {
            set.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A set whose tensors are made when first taken, by <paramref name="make"/> from each entry (release-sized
    /// generated weights for benchmarks: nothing is held before a layer asks for it). <paramref name="aliases"/> lets
    /// the entries use names a loaded file may use (the legacy VAE attention names).
    /// </summary>
    public static WeightSet Generated(string component, IEnumerable<WeightManifestEntry> entries, Func<WeightManifestEntry, Tensor> make, WeightAliases? aliases = null)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(make);
        var set = new WeightSet(component, [], aliases ?? WeightAliases.None);
        foreach (var entry in entries)
        {
            set.Add(entry.Key, entry.Shape, entry.DType, () => make(entry));
        }

        return set;
    }

    /// <summary>A set over tensors already in memory (tests, generated weights).</summary>
    public static WeightSet FromTensors(string component, IEnumerable<KeyValuePair<string, Tensor>> tensors, WeightAliases? aliases = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var set = new WeightSet(component, [], aliases ?? WeightAliases.None);
        foreach (var (key, tensor) in tensors)
        {
            if (set._sources.ContainsKey(key))
            {
                throw new ArgumentException($"Tensor '{key}' is given twice.", nameof(tensors));
            }

            set.Add(key, tensor.Shape, tensor.DType, () => tensor);
        }

        return set;
    }

    private void Add(string key, TensorShape shape, DType dtype, Func<Tensor> source)
    {
        _sources[key] = source;
        _shapes[key] = shape;
        _dtypes[key] = dtype;
    }

    /// <summary>True when <paramref name="key"/> (or an alias of it) is present.</summary>
    public bool Contains(string key) => Resolve(key) is not null;

    /// <summary>The file that holds <paramref name="key"/> (null for in-memory sets).</summary>
    public string? FileOf(string key) => _origin.GetValueOrDefault(Resolve(key) ?? throw Missing(key));

    /// <summary>The stored shape of <paramref name="key"/> without taking it.</summary>
    public TensorShape ShapeOf(string key) => _shapes[Resolve(key) ?? throw Missing(key)];

    /// <summary>The stored dtype of <paramref name="key"/> without taking it.</summary>
    public DType DTypeOf(string key) => _dtypes[Resolve(key) ?? throw Missing(key)];

    /// <summary>Takes <paramref name="key"/>: returns its tensor (stored dtype) and marks it used.</summary>
    public Tensor Take(string key)
    {
        var stored = Resolve(key) ?? throw Missing(key);
        _taken.Add(stored);
        return _sources[stored]();
    }

    /// <summary>Takes <paramref name="key"/> and checks that its shape is <paramref name="expected"/>.</summary>
    public Tensor Take(string key, TensorShape expected)
    {
        ArgumentNullException.ThrowIfNull(expected);
        var stored = Resolve(key) ?? throw Missing(key);
        if (_shapes[stored] != expected)
        {
            throw new ModelFileException(
                $"{Component} weight '{key}' has shape {_shapes[stored]}, but the model built from its config expects {expected}.",
                null, key);
        }

        return Take(key);
    }

    /// <summary>
    /// The (key, dtype, shape) of every weight a model binds (every key but <see cref="IgnoredBuffers"/>), ordered:
    /// what planning a forward without the weights' values needs.
    /// </summary>
    public IReadOnlyList<WeightManifestEntry> Layout() =>
        [.. Keys.Where(k => !IsIgnoredBuffer(k)).Select(k => new WeightManifestEntry(k, DTypeOf(k), ShapeOf(k), null))];

    /// <summary>Keys never taken, other than <see cref="IgnoredBuffers"/>.</summary>
    public IReadOnlyList<string> Unused =>
        _sources.Keys.Where(k => !_taken.Contains(k) && !IsIgnoredBuffer(k)).Order(StringComparer.Ordinal).ToList();

    /// <summary>True for keys that carry no weights (see <see cref="IgnoredBuffers"/>).</summary>
    public static bool IsIgnoredBuffer(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var last = key[(key.LastIndexOf('.') + 1)..];
        return IgnoredBuffers.Contains(last);
    }

    /// <summary>Throws, listing them, when any key was never taken.</summary>
    public void EnsureAllUsed()
    {
        var unused = Unused;
        if (unused.Count > 0)
        {
            var shown = string.Join(", ", unused.Take(20)) + (unused.Count > 20 ? $", ... ({unused.Count - 20} more)" : "");
            throw new ModelFileException(
                $"{unused.Count} {Component} weight(s) were not used by the model built from its config: {shown}. "
                + "The config and the weight file disagree (wrong config.json, or weights of another model).");
        }
    }

    private string? Resolve(string key)
    {
        if (_sources.ContainsKey(key))
        {
            return key;
        }

        foreach (var alias in _aliases.LegacyNames(key))
        {
            if (_sources.ContainsKey(alias))
            {
                return alias;
            }
        }

        return null;
    }

    private ModelFileException Missing(string key)
    {
        var nearest = _sources.Keys
            .Select(k => (Key: k, Distance: EditDistance(k, key)))
            .OrderBy(p => p.Distance).ThenBy(p => p.Key, StringComparer.Ordinal)
            .Take(5)
            .Select(p => p.Key)
            .ToList();
        var hint = nearest.Count > 0 ? $" Nearest names: {string.Join(", ", nearest)}." : " The set is empty.";
        return new ModelFileException($"{Component} weight '{key}' is missing.{hint}", null, key);
    }

    private static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var file in _files)
        {
            file.Dispose();
        }
    }
}
