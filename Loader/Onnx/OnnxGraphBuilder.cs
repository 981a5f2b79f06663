using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Loader.Onnx;

/// <summary>
/// Collects the nodes, initializers, inputs and outputs of one ONNX graph (opset 17 of the default domain), then
/// writes it as <c>model.onnx</c> (ModelProto: ir_version = 1, producer_name = 2, producer_version = 3,
/// doc_string = 6, graph = 7, opset_import = 8 {domain = 1, version = 2}; GraphProto: node = 1, name = 2,
/// initializer = 5, input = 11, output = 12) plus one external data file. Every initializer of
/// <see cref="ExternalThreshold"/> bytes or more goes to the data file, each at a 4096-byte aligned offset (so
/// ONNX Runtime can map it), which keeps the protobuf small: a model of any size stays under protobuf's 2 GB.
/// Nothing reads weight data before <see cref="Write"/>.
/// </summary>
internal sealed class OnnxGraphBuilder(string graphName)
{
    public const int IrVersion = 8;
    public const int Opset = 17;
    public const int ExternalThreshold = 1024;
    private const int Alignment = 4096;

    private readonly List<OnnxNode> _nodes = [];
    private readonly List<OnnxInitializer> _initializers = [];
    private readonly List<OnnxValueInfo> _inputs = [];
    private readonly List<OnnxValueInfo> _outputs = [];
    private readonly Dictionary<string, string> _constants = new(StringComparer.Ordinal);
    private int _counter;

    public IReadOnlyList<OnnxNode> Nodes => _nodes;

    public IReadOnlyList<OnnxInitializer> Initializers => _initializers;

    public IReadOnlyList<OnnxValueInfo> Outputs => _outputs;

    public void Input(string name, OnnxElementType type, params object[] dims) => _inputs.Add(new OnnxValueInfo(name, type, dims));

    public void Output(string name, OnnxElementType type, params object[] dims) => _outputs.Add(new OnnxValueInfo(name, type, dims));

    /// <summary>Adds a node with one output; returns the output's name (<paramref name="output"/>, or a generated one).</summary>
    public string Node(string opType, string scope, string[] inputs, string? output = null, params OnnxAttribute[] attributes)
    {
        var id = _counter++;
        var name = $"{scope}/{opType}_{id}";
        var result = output ?? name;
        _nodes.Add(new OnnxNode(opType, name, inputs, [result], attributes));
        return result;
    }

    public string Weight(string name, Tensor source)
    {
        _initializers.Add(OnnxInitializer.FromWeight(name, source));
        return name;
    }

    /// <summary>An int64 constant (shared between uses of the same values).</summary>
    public string Int64s(params long[] values)
    {
        var key = "i64:" + string.Join(',', values.Select(v => v.ToString(CultureInfo.InvariantCulture)));
        if (!_constants.TryGetValue(key, out var name))
        {
            name = $"const.int64.{_constants.Count}";
            var bytes = new byte[values.Length * 8];
            for (var i = 0; i < values.Length; i++)
            {
                BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * 8), values[i]);
            }

            _initializers.Add(OnnxInitializer.FromBytes(name, OnnxElementType.Int64, [values.Length], bytes));
            _constants[key] = name;
        }

        return name;
    }

    /// <summary>A float32 scalar constant (shared between uses of the same value).</summary>
    public string Scalar(float value)
    {
        var key = "f32:" + BitConverter.SingleToInt32Bits(value).ToString(CultureInfo.InvariantCulture);
        if (!_constants.TryGetValue(key, out var name))
        {
            name = $"const.float.{_constants.Count}";
            var bytes = new byte[4];
            BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
            _initializers.Add(OnnxInitializer.FromBytes(name, OnnxElementType.Float, [], bytes));
            _constants[key] = name;
        }

        return name;
    }

    /// <summary>A float32 constant of any shape, with data CudaI2V computed.</summary>
    public string Floats(string name, float[] values, params long[] dims)
    {
        _initializers.Add(OnnxInitializer.FromBytes(name, OnnxElementType.Float, dims, MemoryMarshal.AsBytes(values.AsSpan()).ToArray()));
        return name;
    }

    /// <summary>
    /// Writes <paramref name="modelPath"/> and, beside it, <paramref name="dataFileName"/>; returns the bytes of
    /// the data file. Weight data is read here, tensor by tensor.
    /// </summary>
    public long Write(string modelPath, string dataFileName, string docString, IReadOnlyDictionary<string, string> metadata)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        var locations = new Dictionary<OnnxInitializer, ExternalLocation>();
        long dataLength;
        using (var data = new FileStream(Path.Combine(folder, dataFileName), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
        {
            foreach (var initializer in _initializers.Where(i => i.ByteLength >= ExternalThreshold))
            {
                var padding = (int)((Alignment - (data.Position % Alignment)) % Alignment);
                data.Write(new byte[padding]);
                var offset = data.Position;
                WriteData(initializer, data);
                locations[initializer] = new ExternalLocation(dataFileName, offset, data.Position - offset);
            }

            data.Flush(flushToDisk: true);
            dataLength = data.Length;
        }

        var model = new ProtoWriter();
        model.Int64(1, IrVersion);
        model.String(2, "CudaI2V");
        model.String(3, metadata.TryGetValue("builder_version", out var version) ? version : "0");
        model.String(6, docString);
        model.Message(7, graph =>
        {
            foreach (var node in _nodes)
            {
                graph.Message(1, node.Write);
            }

            graph.String(2, graphName);
            foreach (var initializer in _initializers)
            {
                graph.Message(5, t => initializer.Write(t, locations.TryGetValue(initializer, out var at) ? at : null, InlineBytes));
            }

            foreach (var input in _inputs)
            {
                graph.Message(11, input.Write);
            }

            foreach (var output in _outputs)
            {
                graph.Message(12, output.Write);
            }
        });
        model.Message(8, opset =>
        {
            opset.String(1, "");
            opset.Int64(2, Opset);
        });
        foreach (var (key, value) in metadata)
        {
            // metadata_props = 14: StringStringEntryProto {key = 1, value = 2}.
            model.Message(14, e =>
            {
                e.String(1, key);
                e.String(2, value);
            });
        }

        using (var stream = new FileStream(modelPath, FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            stream.Write(model.WrittenSpan);
            stream.Flush(flushToDisk: true);
        }

        return dataLength;
    }

    private static byte[] InlineBytes(OnnxInitializer initializer)
    {
        using var memory = new MemoryStream();
        WriteData(initializer, memory);
        return memory.ToArray();
    }

    private static void WriteData(OnnxInitializer initializer, Stream output)
    {
        if (initializer.Data is { } bytes)
        {
            output.Write(bytes);
            return;
        }

        var source = initializer.Source!.Contiguous();
        var raw = source.AsBytes();
        if (source.DType == DType.F32)
        {
            output.Write(raw);
            return;
        }

        // fp16 / bf16 weights are widened to float32 a slice at a time.
        const int chunk = 1 << 18;
        var size = source.DType.SizeOf();
        var floats = new float[chunk];
        for (long start = 0; start < source.ElementCount; start += chunk)
        {
            var count = (int)Math.Min(chunk, source.ElementCount - start);
            DTypeConversion.ToSingle(raw.Slice((int)(start * size), count * size), source.DType, floats.AsSpan(0, count));
            output.Write(MemoryMarshal.AsBytes(floats.AsSpan(0, count)));
        }
    }
}
