using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace CudaI2V.Loader.Onnx;

/// <summary>
/// The protocol-buffers wire format, as much as ONNX's messages need: varints (wire type 0), 32-bit floats
/// (wire type 5) and length-delimited strings, bytes and nested messages (wire type 2). A nested message is
/// written into its own buffer first, so its length can precede it. Repeated scalars are written one tag per
/// element (unpacked), which every reader accepts.
/// </summary>
internal sealed class ProtoWriter
{
    private readonly ArrayBufferWriter<byte> _buffer = new();

    /// <summary>Bytes written so far.</summary>
    public ReadOnlySpan<byte> WrittenSpan => _buffer.WrittenSpan;

    /// <summary>An int64 / int32 / enum field. Negative values take ten bytes, as protobuf specifies.</summary>
    public void Int64(int field, long value)
    {
        Tag(field, 0);
        Varint((ulong)value);
    }

    /// <summary>A float field (fixed 32 bits, little-endian).</summary>
    public void Float(int field, float value)
    {
        Tag(field, 5);
        BinaryPrimitives.WriteSingleLittleEndian(_buffer.GetSpan(4), value);
        _buffer.Advance(4);
    }

    /// <summary>A string field (UTF-8).</summary>
    public void String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    /// <summary>A bytes field.</summary>
    public void Bytes(int field, ReadOnlySpan<byte> value)
    {
        Tag(field, 2);
        Varint((ulong)value.Length);
        _buffer.Write(value);
    }

    /// <summary>A nested message, written by <paramref name="write"/>.</summary>
    public void Message(int field, Action<ProtoWriter> write)
    {
        var inner = new ProtoWriter();
        write(inner);
        Bytes(field, inner.WrittenSpan);
    }

    private void Tag(int field, int wireType) => Varint(((ulong)field << 3) | (uint)wireType);

    private void Varint(ulong value)
    {
        var span = _buffer.GetSpan(10);
        var n = 0;
        while (value >= 0x80)
        {
            span[n++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[n++] = (byte)value;
        _buffer.Advance(n);
    }
}
