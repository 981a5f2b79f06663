using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Loader.Safetensors;

/// <summary>
/// Writes safetensors files: the 8-byte header length, the JSON header padded with spaces to a multiple of 8
/// (so the data section starts 8-aligned), then each tensor's bytes in header order with no gaps. The file is
/// written under a temporary name and renamed when complete.
/// </summary>
public static class SafetensorsWriter
{
    /// <summary>Writes <paramref name="tensors"/> (host tensors; strided views are made contiguous) in the given order.</summary>
    public static void Write(
        string path,
        IEnumerable<KeyValuePair<string, Tensor>> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        var items = tensors.Select(p => (p.Key, Tensor: p.Value.Contiguous())).ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var entries = new List<SafetensorsEntry>(items.Count);
        long offset = 0;
        foreach (var (name, tensor) in items)
        {
            if (!names.Add(name) || name == SafetensorsHeader.MetadataKey)
            {
                throw new ArgumentException($"Tensor name '{name}' is repeated or reserved.", nameof(tensors));
            }

            entries.Add(new SafetensorsEntry(name, tensor.DType, tensor.Shape, offset, offset + tensor.ByteLength));
            offset += tensor.ByteLength;
        }

        var header = SafetensorsHeader.Build(entries, metadata);
        var temporary = path + ".partial-" + Environment.ProcessId;
        try
        {
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                Span<byte> length = stackalloc byte[8];
                System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
                stream.Write(length);
                stream.Write(header);
                foreach (var (_, tensor) in items)
                {
                    if (tensor.ByteLength > 0)
                    {
                        stream.Write(tensor.AsBytes());
                    }
                }
            }

            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
    }
}
