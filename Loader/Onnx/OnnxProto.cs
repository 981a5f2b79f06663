using System.Globalization;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Loader.Onnx;

// The ONNX messages CudaI2V writes (onnx/onnx.proto, field numbers in the comments), each with the one method
// that serialises it. Only what the text encoder's graph uses is here.

/// <summary>TensorProto.DataType values used here.</summary>
internal enum OnnxElementType
{
    Float = 1,
    Int64 = 7,
}

/// <summary>AttributeProto: name = 1, f = 2, i = 3, ints = 8, type = 20 (FLOAT 1, INT 2, INTS 7).</summary>
internal sealed class OnnxAttribute
{
    private readonly long _int;
    private readonly float _float;
    private readonly long[]? _ints;
    private readonly int _type;

    private OnnxAttribute(string name, int type, long i = 0, float f = 0, long[]? ints = null)
    {
        Name = name;
        _type = type;
        _int = i;
        _float = f;
        _ints = ints;
    }

    public string Name { get; }

    public static OnnxAttribute Int(string name, long value) => new(name, 2, i: value);

    public static OnnxAttribute Float(string name, float value) => new(name, 1, f: value);

    public static OnnxAttribute Ints(string name, params long[] values) => new(name, 7, ints: values);

    public void Write(ProtoWriter w)
    {
        w.String(1, Name);
        switch (_type)
        {
            case 1:
                w.Float(2, _float);
                break;
            case 2:
                w.Int64(3, _int);
                break;
            default:
                foreach (var v in _ints!)
                {
                    w.Int64(8, v);
                }

                break;
        }

        w.Int64(20, _type);
    }
}

/// <summary>NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5.</summary>
internal sealed record OnnxNode(string OpType, string Name, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs, IReadOnlyList<OnnxAttribute> Attributes)
{
    public void Write(ProtoWriter w)
    {
        foreach (var input in Inputs)
        {
            w.String(1, input);
        }

        foreach (var output in Outputs)
        {
            w.String(2, output);
        }

        w.String(3, Name);
        w.String(4, OpType);
        foreach (var attribute in Attributes)
        {
            w.Message(5, attribute.Write);
        }
    }
}

/// <summary>
/// ValueInfoProto (name = 1, type = 2) with TypeProto.tensor_type = 1 { elem_type = 1, shape = 2 }; each dimension
/// of TensorShapeProto (dim = 1) is a size (dim_value = 1) or a symbolic name (dim_param = 2).
/// </summary>
internal sealed record OnnxValueInfo(string Name, OnnxElementType Type, IReadOnlyList<object> Dims)
{
    public void Write(ProtoWriter w)
    {
        w.String(1, Name);
        w.Message(2, type => type.Message(1, tensor =>
        {
            tensor.Int64(1, (int)Type);
            tensor.Message(2, shape =>
            {
                foreach (var dim in Dims)
                {
                    shape.Message(1, d =>
                    {
                        if (dim is string symbol)
                        {
                            d.String(2, symbol);
                        }
                        else
                        {
                            d.Int64(1, Convert.ToInt64(dim, CultureInfo.InvariantCulture));
                        }
                    });
                }
            });
        }));
    }
}

/// <summary>Where an initializer's bytes went in the external data file.</summary>
internal readonly record struct ExternalLocation(string File, long Offset, long Length);

/// <summary>
/// An initializer (TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9, external_data = 13 as
/// StringStringEntryProto {key = 1, value = 2}, data_location = 14 with EXTERNAL = 1). Its float32 bytes come
/// from a weight tensor (converted from fp16 or bf16 when stored so) or from bytes CudaI2V made; raw data is
/// little-endian, like the machines CudaI2V runs on.
/// </summary>
internal sealed class OnnxInitializer
{
    private OnnxInitializer(string name, OnnxElementType type, long[] dims, byte[]? data, Tensor? source)
    {
        Name = name;
        Type = type;
        Dims = dims;
        Data = data;
        Source = source;
    }

    public string Name { get; }

    public OnnxElementType Type { get; }

    public long[] Dims { get; }

    /// <summary>Bytes made by CudaI2V (constants), or null for a weight.</summary>
    public byte[]? Data { get; }

    /// <summary>The weight whose values this initializer holds (as float32), or null for a constant.</summary>
    public Tensor? Source { get; }

    public long ByteLength => Dims.Aggregate(1L, (a, d) => a * d) * (Type == OnnxElementType.Int64 ? 8 : 4);

    public static OnnxInitializer FromWeight(string name, Tensor source) =>
        new(name, OnnxElementType.Float, source.Shape.Dims.ToArray().Select(d => (long)d).ToArray(), null, source);

    public static OnnxInitializer FromBytes(string name, OnnxElementType type, long[] dims, byte[] data) => new(name, type, dims, data, null);

    /// <summary>Writes this TensorProto, its data inline or, when <paramref name="external"/> is given, as a reference.</summary>
    public void Write(ProtoWriter w, ExternalLocation? external, Func<OnnxInitializer, byte[]> inlineBytes)
    {
        foreach (var d in Dims)
        {
            w.Int64(1, d);
        }

        w.Int64(2, (int)Type);
        w.String(8, Name);
        if (external is { } at)
        {
            WriteEntry(w, "location", at.File);
            WriteEntry(w, "offset", at.Offset.ToString(CultureInfo.InvariantCulture));
            WriteEntry(w, "length", at.Length.ToString(CultureInfo.InvariantCulture));
            w.Int64(14, 1);
        }
        else
        {
            w.Bytes(9, inlineBytes(this));
        }
    }

    private static void WriteEntry(ProtoWriter w, string key, string value) => w.Message(13, e =>
    {
        e.String(1, key);
        e.String(2, value);
    });
}
