using System.Buffers.Binary;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda.Emulation;

/// <summary>
/// Device memory on the host: each allocation is a fake address range backed by a byte array, with an unmapped gap
/// after it, so an emulated kernel that reaches outside the tensors its parameters name throws instead of reading a
/// neighbour.
/// </summary>
internal sealed class EmulatedMemory
{
    /// <summary>The first allocation's address.</summary>
    public const ulong Base = 0x7100_0000_0000;

    private readonly List<(ulong Begin, byte[] Bytes)> _regions = [];
    private ulong _next = Base;

    /// <summary>A new zeroed device tensor, 256-byte aligned.</summary>
    public Tensor Allocate(DType dtype, TensorShape shape)
    {
        var bytes = Math.Max(shape.ElementCount * dtype.SizeOf(), 1);
        var begin = _next;
        _regions.Add((begin, new byte[bytes]));
        _next += (((ulong)bytes + 255) / 256 * 256) + 4096; // an unmapped gap after each allocation
        return Tensor.View(new DeviceStorage(begin, bytes, () => true, "emulated"), 0, dtype, shape);
    }

    /// <summary>The <paramref name="length"/> bytes at <paramref name="address"/>, which must lie in one allocation.</summary>
    public Span<byte> Bytes(ulong address, long length)
    {
        var (bytes, offset) = Find(address);
        if (offset + length > bytes.Length)
        {
            throw new InvalidOperationException($"[0x{address:x}, +{length}) runs past its allocation of {bytes.Length} bytes.");
        }

        return bytes.AsSpan(offset, (int)length);
    }

    /// <summary>The elements of <paramref name="dtype"/> from <paramref name="address"/> to the end of its allocation.</summary>
    public Elements At(ulong address, DType dtype)
    {
        var (bytes, offset) = Find(address);
        return new Elements(bytes, offset, dtype, address);
    }

    private (byte[] Bytes, int Offset) Find(ulong address)
    {
        foreach (var (begin, bytes) in _regions)
        {
            if (address >= begin && address < begin + (ulong)bytes.Length)
            {
                return (bytes, (int)(address - begin));
            }
        }

        throw new InvalidOperationException($"0x{address:x} is in no allocation.");
    }
}

/// <summary>
/// Typed elements of emulated device memory, from one address to the end of its allocation: read as fp32 and written
/// from fp32 with one round to nearest even (what <c>to_f32</c> and <c>from_f32</c> do in Common.cuh), or moved as raw
/// bits. An index outside the allocation throws.
/// </summary>
internal readonly struct Elements(byte[] bytes, int offset, DType dtype, ulong address)
{
    private readonly int _size = dtype.SizeOf();

    /// <summary>The element type.</summary>
    public DType DType => dtype;

    /// <summary>Element <paramref name="index"/> as fp32 (floating-point types only).</summary>
    public float this[long index]
    {
        get
        {
            var b = Raw(index);
            return dtype switch
            {
                DType.F32 => BinaryPrimitives.ReadSingleLittleEndian(b),
                DType.F16 => (float)BinaryPrimitives.ReadHalfLittleEndian(b),
                DType.BF16 => BitConverter.UInt32BitsToSingle((uint)BinaryPrimitives.ReadUInt16LittleEndian(b) << 16),
                _ => throw new InvalidOperationException($"{dtype} elements are not floats."),
            };
        }

        set
        {
            var b = Raw(index);
            switch (dtype)
            {
                case DType.F32: BinaryPrimitives.WriteSingleLittleEndian(b, value); break;
                case DType.F16: BinaryPrimitives.WriteHalfLittleEndian(b, (Half)value); break;
                case DType.BF16: BinaryPrimitives.WriteUInt16LittleEndian(b, BFloat16.FromSingle(value).Bits); break;
                default: throw new InvalidOperationException($"{dtype} elements are not floats.");
            }
        }
    }

    /// <summary>The bytes of element <paramref name="index"/>.</summary>
    public Span<byte> Raw(long index)
    {
        var start = offset + (index * _size);
        if (index < 0 || start + _size > bytes.Length)
        {
            throw new InvalidOperationException(
                $"element {index} of the {dtype} array at 0x{address:x} lies outside its allocation ({(bytes.Length - offset) / _size} elements from there).");
        }

        return bytes.AsSpan((int)start, _size);
    }

    /// <summary>Element <paramref name="index"/> of an I64 array.</summary>
    public long Int64(long index) => BinaryPrimitives.ReadInt64LittleEndian(Raw(index));

    /// <summary>Sets element <paramref name="index"/> of an I64 array.</summary>
    public void SetInt64(long index, long value) => BinaryPrimitives.WriteInt64LittleEndian(Raw(index), value);
}
