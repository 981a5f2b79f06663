using System.Buffers.Binary;

namespace CudaI2V.Runtime.Tensors;

/// <summary>Element conversions between dtypes, on little-endian byte spans.</summary>
public static class DTypeConversion
{
    /// <summary>Converts every element of <paramref name="source"/> (of <paramref name="dtype"/>) to float.</summary>
    public static void ToSingle(ReadOnlySpan<byte> source, DType dtype, Span<float> destination)
    {
        var size = dtype.SizeOf();
        if (source.Length != destination.Length * size)
        {
            throw new ArgumentException($"{source.Length} bytes of {dtype} do not make {destination.Length} elements.");
        }

        // One loop per dtype: this runs over every weight when a model is loaded.
        switch (dtype)
        {
            case DType.F32:
                for (var i = 0; i < destination.Length; i++)
                {
                    destination[i] = BinaryPrimitives.ReadSingleLittleEndian(source[(i * 4)..]);
                }

                break;
            case DType.F16:
                for (var i = 0; i < destination.Length; i++)
                {
                    destination[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(source[(i * 2)..]);
                }

                break;
            case DType.BF16:
                for (var i = 0; i < destination.Length; i++)
                {
                    destination[i] = BFloat16.FromBits(BinaryPrimitives.ReadUInt16LittleEndian(source[(i * 2)..])).ToSingle();
                }

                break;
            case DType.I64:
                for (var i = 0; i < destination.Length; i++)
                {
                    destination[i] = BinaryPrimitives.ReadInt64LittleEndian(source[(i * 8)..]);
                }

                break;
            case DType.I32:
                for (var i = 0; i < destination.Length; i++)
                {
                    destination[i] = BinaryPrimitives.ReadInt32LittleEndian(source[(i * 4)..]);
                }

                break;
            case DType.U8:
                for (var i = 0; i < destination.Length; i++)
                {
                    destination[i] = source[i];
                }

                break;
            case DType.Bool:
                for (var i = 0; i < destination.Length; i++)
                {
                    destination[i] = source[i] != 0 ? 1f : 0f;
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype.");
        }
    }

    /// <summary>
    /// Converts floats to <paramref name="dtype"/>: fp16 and bf16 round to nearest even; integer types truncate
    /// toward zero; bool is "not zero".
    /// </summary>
    public static void FromSingle(ReadOnlySpan<float> source, Span<byte> destination, DType dtype)
    {
        var size = dtype.SizeOf();
        if (destination.Length != source.Length * size)
        {
            throw new ArgumentException($"{source.Length} elements do not fill {destination.Length} bytes of {dtype}.");
        }

        for (var i = 0; i < source.Length; i++)
        {
            var b = destination.Slice(i * size, size);
            var v = source[i];
            switch (dtype)
            {
                case DType.F32: BinaryPrimitives.WriteSingleLittleEndian(b, v); break;
                case DType.F16: BinaryPrimitives.WriteHalfLittleEndian(b, (Half)v); break;
                case DType.BF16: BinaryPrimitives.WriteUInt16LittleEndian(b, BFloat16.FromSingle(v).Bits); break;
                case DType.I64: BinaryPrimitives.WriteInt64LittleEndian(b, (long)v); break;
                case DType.I32: BinaryPrimitives.WriteInt32LittleEndian(b, (int)v); break;
                case DType.U8: b[0] = (byte)v; break;
                case DType.Bool: b[0] = v != 0 ? (byte)1 : (byte)0; break;
                default: throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype.");
            }
        }
    }

    /// <summary>
    /// Converts between any two dtypes. Integer to integer conversions are exact (no float round trip); every
    /// other pair goes through float, which is exact for all floating-point sources.
    /// </summary>
    public static void Convert(ReadOnlySpan<byte> source, DType from, Span<byte> destination, DType to)
    {
        var count = source.Length / from.SizeOf();
        if (from is DType.I64 or DType.I32 && to is DType.I64 or DType.I32)
        {
            for (var i = 0; i < count; i++)
            {
                long v = from == DType.I64
                    ? BinaryPrimitives.ReadInt64LittleEndian(source.Slice(i * 8, 8))
                    : BinaryPrimitives.ReadInt32LittleEndian(source.Slice(i * 4, 4));
                if (to == DType.I64)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(destination.Slice(i * 8, 8), v);
                }
                else
                {
                    BinaryPrimitives.WriteInt32LittleEndian(destination.Slice(i * 4, 4), checked((int)v));
                }
            }

            return;
        }

        var floats = new float[count];
        ToSingle(source, from, floats);
        FromSingle(floats, destination, to);
    }
}
