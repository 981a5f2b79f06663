using System.IO.MemoryMappedFiles;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Loader.Safetensors;

/// <summary>
/// A .safetensors file opened by memory map. The header is fully validated on open; each tensor is then a typed
/// <see cref="Tensor"/> view over the mapped bytes, with no copy. Views stay valid until the file is disposed
/// (reading one afterwards throws <see cref="ObjectDisposedException"/>).
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly Dictionary<string, SafetensorsEntry> _byName;
    private readonly MemoryMappedFile? _mapping;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly UnmanagedHostStorage? _storage;
    private readonly byte* _base;
    private bool _disposed;

    private SafetensorsFile(string path, List<SafetensorsEntry> entries, Dictionary<string, string> metadata, long dataStart, long fileLength)
    {
        Path = path;
        Entries = entries.OrderBy(e => e.Name, StringComparer.Ordinal).ToArray();
        _byName = entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
        Metadata = metadata;
        DataStart = dataStart;
        if (fileLength > dataStart)
        {
            _mapping = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            _view = _mapping.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            _base = pointer + _view.PointerOffset;

            // SAFETY: the mapping stays alive until Dispose, and the storage refuses access after that.
            _storage = new UnmanagedHostStorage(_base + dataStart, fileLength - dataStart, () => !_disposed, path);
        }
    }

    /// <summary>The file's path.</summary>
    public string Path { get; }

    /// <summary>Every tensor's header entry, ordered by name.</summary>
    public IReadOnlyList<SafetensorsEntry> Entries { get; }

    /// <summary>The optional "__metadata__" strings.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Byte offset of the data section in the file (8 + header length).</summary>
    public long DataStart { get; }

    /// <summary>The tensor names, ordered.</summary>
    public IEnumerable<string> Names => Entries.Select(e => e.Name);

    /// <summary>Opens and validates <paramref name="path"/>; throws <see cref="ModelFileException"/> on any fault.</summary>
    public static SafetensorsFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new ModelFileException($"Weight file not found: {path}.", path);
        }

        InputFile.RequireModelFile(path, "weight file");

        long fileLength;
        List<SafetensorsEntry> entries;
        Dictionary<string, string> metadata;
        long dataStart;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            fileLength = stream.Length;
            (entries, metadata, dataStart) = SafetensorsHeader.Read(stream, path);
        }

        return new SafetensorsFile(path, entries, metadata, dataStart, fileLength);
    }

    /// <summary>True when the file holds <paramref name="name"/>.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The header entry of <paramref name="name"/>.</summary>
    public SafetensorsEntry GetEntry(string name) =>
        _byName.TryGetValue(name, out var entry)
            ? entry
            : throw new ModelFileException($"{Path} has no tensor '{name}'.", Path, name);

    /// <summary>A zero-copy view of tensor <paramref name="name"/> in its stored dtype.</summary>
    public Tensor GetTensor(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var entry = GetEntry(name);
        if (_storage is null)
        {
            return Tensor.Zeros(entry.DType, entry.Shape);
        }

        return Tensor.View(_storage, entry.Begin, entry.DType, entry.Shape);
    }

    /// <summary>Tensor <paramref name="name"/> converted to a new fp32 array.</summary>
    public float[] ReadFloat32(string name) => GetTensor(name).ToFloat32Array();

    /// <summary>Tensor <paramref name="name"/> as a new host tensor of <paramref name="dtype"/> (fp32 or fp16 typically).</summary>
    public Tensor Read(string name, DType dtype) => GetTensor(name).To(dtype);

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }

        _mapping?.Dispose();
    }
}
