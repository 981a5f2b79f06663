using System.Buffers.Binary;
using System.Text;
using CudaI2V.Loader;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Fuzz;

/// <summary>
/// Safetensors files mutated from valid ones: the header's JSON (dtypes, shapes, offsets, names, metadata, UTF-8,
/// nesting), its length field and the data section's length. Each case is written to a file and opened by the real
/// loader: <see cref="SafetensorsFile"/>, every tensor read, then a <see cref="WeightSet"/> over it.
/// </summary>
public sealed class SafetensorsFuzzer
{
    private static readonly string[] Keys = ["dtype", "shape", "data_offsets", "__metadata__", "format", "w.weight"];
    private readonly List<(byte[] Header, byte[] Data)> _seeds = [];
    private readonly string _folder;

    /// <summary>Writes the seed files into <paramref name="folder"/>.</summary>
    public SafetensorsFuzzer(string folder)
    {
        _folder = folder;
        AddSeed(new Dictionary<string, Tensor>
        {
            ["a.weight"] = Tensor.FromArray(new float[] { 1, -2, 3.5f, 4, 5, 6 }, 2, 3),
            ["b.bias"] = Tensor.FromArray(new[] { (Half)0.5f, (Half)(-1f), (Half)2f }, 3),
            ["c.weight"] = Tensor.FromArray(new[] { (BFloat16)1.25f }, 1, 1),
            ["d.empty"] = Tensor.Zeros(DType.F32, new TensorShape(0, 4)),
        }, new Dictionary<string, string> { ["format"] = "pt" });
        AddSeed(new Dictionary<string, Tensor>
        {
            ["embeddings.position_ids"] = Tensor.FromArray(new long[] { 0, 1, 2 }, 1, 3),
            ["embeddings.weight"] = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 2, 2),
        }, null);
    }

    /// <summary>Builds case <paramref name="index"/>'s file; returns its path and what was mutated.</summary>
    public (string Path, string What) Make(FuzzRandom random, int index)
    {
        var (header, data) = random.Pick(_seeds);
        var (json, what) = JsonMutator.Mutate(Encoding.UTF8.GetString(header), random, Keys);
        ulong length = (ulong)json.Length;
        switch (random.Next(10))
        {
            case 0:
                length = random.Pick(new ulong[] { 0, 1, 7, (ulong)json.Length + 1, (ulong)json.Length + 8, 100_000_001, ulong.MaxValue, long.MaxValue, random.NextUInt64() });
                what += $"; length field {length}";
                break;
            case 1:
                var cut = random.Next(data.Length + 1);
                data = data[..cut];
                what += $"; data cut to {cut}";
                break;
            case 2:
                data = [.. data, .. new byte[1 + random.Next(16)]];
                what += "; data extended";
                break;
        }

        var bytes = new byte[8 + json.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, length);
        json.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + json.Length);
        if (random.Chance(0.05))
        {
            var cut = random.Next(bytes.Length + 1);
            bytes = bytes[..cut];
            what += $"; file cut to {cut}";
        }

        var path = Path.Combine(_folder, $"case-{index % 16}.safetensors");
        File.WriteAllBytes(path, bytes);
        return (path, what);
    }

    /// <summary>What generate does with a weight file: open it, read every tensor, bind it as a weight set.</summary>
    public static void Load(string path)
    {
        using (var file = SafetensorsFile.Open(path))
        {
            foreach (var entry in file.Entries)
            {
                _ = file.GetTensor(entry.Name).AsBytes().ToArray();
            }
        }

        using var weights = WeightSet.Open("unet", [path]);
        foreach (var key in weights.Keys.Where(k => !WeightSet.IsIgnoredBuffer(k)).ToList())
        {
            _ = weights.Take(key).ToFloat32Array();
        }
    }

    private void AddSeed(Dictionary<string, Tensor> tensors, Dictionary<string, string>? metadata)
    {
        var path = Path.Combine(_folder, $"seed-{_seeds.Count}.safetensors");
        SafetensorsWriter.Write(path, tensors, metadata);
        var bytes = File.ReadAllBytes(path);
        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        _seeds.Add((bytes[8..(8 + headerLength)], bytes[(8 + headerLength)..]));
    }
}
