using System.Buffers.Binary;
using System.Text;
using CudaI2V.Loader;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Loader;

public sealed class SafetensorsTests
{
    private readonly string _dir = Fixtures.TempFolder("safetensors");

    [Fact]
    public void Written_file_reads_back_every_dtype_shape_and_the_metadata()
    {
        var path = Path.Combine(_dir, "all.safetensors");
        var tensors = new Dictionary<string, Tensor>
        {
            ["a.f32"] = Tensor.FromArray(new float[] { 1, -2, 3.5f, 4, 5, 6 }, 2, 3),
            ["b.f16"] = Tensor.FromArray(new[] { (Half)0.5f, (Half)(-1f), (Half)2f }, 3),
            ["c.bf16"] = Tensor.FromArray(new[] { (BFloat16)1.25f }, 1, 1),
            ["d.i64"] = Tensor.FromArray(new long[] { 781 }, []),
            ["e.i32"] = Tensor.FromArray(new[] { 12, 16 }, 2),
            ["f.u8"] = Tensor.FromArray(new byte[] { 1, 2, 3 }, 3),
            ["g.empty"] = Tensor.Zeros(DType.F32, new TensorShape(0, 4)),
            ["h.bool"] = Tensor.Zeros(DType.Bool, new TensorShape(2)),
        };
        SafetensorsWriter.Write(path, tensors, new Dictionary<string, string> { ["format"] = "pt", ["note"] = "x" });

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(tensors.Keys.Order(StringComparer.Ordinal), file.Names);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(0, file.DataStart % 8);
        foreach (var (name, expected) in tensors)
        {
            var actual = file.GetTensor(name);
            Assert.Equal(expected.DType, actual.DType);
            Assert.Equal(expected.Shape, actual.Shape);
            Assert.Equal(expected.AsBytes().ToArray(), actual.AsBytes().ToArray());
        }

        Assert.Equal(new float[] { 1, -2, 3.5f, 4, 5, 6 }, file.ReadFloat32("a.f32"));
        Assert.Equal(new float[] { 0.5f, -1f, 2f }, file.ReadFloat32("b.f16"));
        Assert.Equal(new[] { (Half)1.25f }, file.Read("c.bf16", DType.F16).AsSpan<Half>().ToArray());
        Assert.Equal(new float[] { 781 }, file.ReadFloat32("d.i64"));
    }

    [Fact]
    public void Tensors_are_views_of_the_mapped_file_and_refuse_access_after_dispose()
    {
        var path = Path.Combine(_dir, "view.safetensors");
        SafetensorsWriter.Write(path, [new("w", Tensor.FromArray(new float[] { 7, 8 }, 2))]);
        var file = SafetensorsFile.Open(path);
        var view = file.GetTensor("w");
        Assert.IsType<UnmanagedHostStorage>(view.Storage);
        Assert.Equal(8f, view.AsSpan<float>()[1]);
        file.Dispose();
        Assert.Throws<ObjectDisposedException>(() => view.AsSpan<float>().ToArray());
    }

    [Fact]
    public void Missing_tensor_and_missing_file_are_named()
    {
        var path = Path.Combine(_dir, "one.safetensors");
        SafetensorsWriter.Write(path, [new("w", Tensor.FromArray(new float[] { 1 }, 1))]);
        using var file = SafetensorsFile.Open(path);
        var e = Assert.Throws<ModelFileException>(() => file.GetTensor("nope"));
        Assert.Equal("nope", e.TensorName);
        var missing = Assert.Throws<ModelFileException>(() => SafetensorsFile.Open(Path.Combine(_dir, "absent.safetensors")));
        Assert.Contains("absent.safetensors", missing.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, byte[], string> MalformedFiles() => new()
    {
        { "shorter than 8 bytes", [1, 2, 3], "8-byte header length" },
        { "header longer than the file", Raw(1000, "{}", 0, declaredLength: 500), "header claims 500 bytes" },
        { "header not JSON", Raw("{\"a\": ", 0), "not valid JSON" },
        { "header not an object", Raw("[1, 2]", 0), "must be a JSON object" },
        { "unknown dtype", Raw("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2), "unknown dtype 'F8_E4M3'" },
        { "shape and byte range disagree", Raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8), "needs 12 bytes" },
        { "offsets outside the data", Raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8), "outside the data section" },
        {
            "overlapping tensors",
            Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12),
            "overlaps"
        },
        {
            "gap between tensors",
            Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12),
            "gap"
        },
        { "gap at the start", Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8), "gap" },
        { "bytes left over at the end", Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12), "gap at the end" },
        {
            "duplicate names",
            Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8),
            "appears twice"
        },
        { "reversed offsets", Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4), "data_offsets" },
        { "negative dimension", Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4), "non-negative integers" },
        { "metadata not strings", Raw("{\"__metadata__\":{\"n\":1}}", 0), "must be a string" },
    };

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    public void Malformed_files_are_refused_with_the_file_named(string what, byte[] bytes, string expected)
    {
        var path = Path.Combine(_dir, what.Replace(' ', '-') + ".safetensors");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<ModelFileException>(() => SafetensorsFile.Open(path));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Equal(path, e.FilePath);
    }

    [Fact]
    public void A_truncated_real_file_is_refused()
    {
        var path = Path.Combine(_dir, "full.safetensors");
        SafetensorsWriter.Write(path, [new("w", Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 4))]);
        var bytes = File.ReadAllBytes(path);
        var truncated = Path.Combine(_dir, "truncated.safetensors");
        File.WriteAllBytes(truncated, bytes[..^4]);
        var e = Assert.Throws<ModelFileException>(() => SafetensorsFile.Open(truncated));
        Assert.Equal("w", e.TensorName);
    }

    [Fact]
    public void Writer_pads_the_header_to_eight_bytes_and_leaves_no_partial_file()
    {
        var path = Path.Combine(_dir, "pad.safetensors");
        SafetensorsWriter.Write(path, [new("abc", Tensor.FromArray(new float[] { 1 }, 1))]);
        var bytes = File.ReadAllBytes(path);
        var headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, headerLength % 8);
        Assert.Equal(8 + headerLength + 4, bytes.Length);
        Assert.Empty(Directory.GetFiles(_dir, "*.partial-*"));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path, [new("x", Tensor.Zeros(DType.F32, new(1))), new("x", Tensor.Zeros(DType.F32, new(1)))]));
    }

    private static byte[] Raw(string header, int dataBytes) => Raw(0, header, dataBytes, null);

    private static byte[] Raw(int padding, string header, int dataBytes, long? declaredLength)
    {
        var json = Encoding.UTF8.GetBytes(header + new string(' ', padding));
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)(declaredLength ?? json.Length));
        json.CopyTo(bytes, 8);
        return declaredLength is { } d ? bytes[..(int)Math.Min(bytes.Length, 8 + d - 1)] : bytes;
    }
}
