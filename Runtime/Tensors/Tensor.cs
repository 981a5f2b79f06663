using System.Runtime.InteropServices;

namespace CudaI2V.Runtime.Tensors;

/// <summary>
/// A typed, shaped, strided view over a <see cref="TensorStorage"/> (host or device memory). The same type serves
/// both backends and the loader; it never owns the memory it views. Strides are in elements.
/// </summary>
public sealed class Tensor
{
    private Tensor(TensorStorage storage, long byteOffset, DType dtype, TensorShape shape, long[] strides)
    {
        Storage = storage;
        ByteOffset = byteOffset;
        DType = dtype;
        Shape = shape;
        Strides = strides;
    }

    /// <summary>The memory this tensor views.</summary>
    public TensorStorage Storage { get; }

    /// <summary>Byte offset of element [0, 0, ...] in <see cref="Storage"/>.</summary>
    public long ByteOffset { get; }

    /// <summary>Element type.</summary>
    public DType DType { get; }

    /// <summary>Dimensions.</summary>
    public TensorShape Shape { get; }

    /// <summary>Stride of each dimension in elements.</summary>
    public IReadOnlyList<long> Strides { get; }

    /// <summary>Number of elements.</summary>
    public long ElementCount => Shape.ElementCount;

    /// <summary>Bytes the elements occupy when contiguous.</summary>
    public long ByteLength => Shape.ElementCount * DType.SizeOf();

    /// <summary>True when the elements are laid out row-major with no gaps.</summary>
    public bool IsContiguous
    {
        get
        {
            long expected = 1;
            for (var i = Shape.Rank - 1; i >= 0; i--)
            {
                if (Shape[i] != 1 && Strides[i] != expected)
                {
                    return false;
                }

                expected *= Shape[i];
            }

            return true;
        }
    }

    /// <summary>A contiguous view of <paramref name="shape"/> at <paramref name="byteOffset"/> of a storage.</summary>
    public static Tensor View(TensorStorage storage, long byteOffset, DType dtype, TensorShape shape)
    {
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(shape);
        var bytes = shape.ElementCount * dtype.SizeOf();
        if (byteOffset < 0 || byteOffset + bytes > storage.ByteLength)
        {
            throw new ArgumentOutOfRangeException(
                nameof(byteOffset),
                $"A {dtype} tensor of shape {shape} at byte {byteOffset} needs {bytes} bytes; the storage has {storage.ByteLength}.");
        }

        return new Tensor(storage, byteOffset, dtype, shape, shape.ContiguousStrides());
    }

    /// <summary>A new zero-filled host tensor.</summary>
    public static Tensor Zeros(DType dtype, TensorShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return View(HostStorage.Allocate(shape.ElementCount * dtype.SizeOf()), 0, dtype, shape);
    }

    /// <summary>A new host tensor holding a copy of <paramref name="values"/>.</summary>
    public static Tensor FromSpan<T>(ReadOnlySpan<T> values, TensorShape shape)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (values.Length != shape.ElementCount)
        {
            throw new ArgumentException(
                $"{values.Length} values cannot fill shape {shape} ({shape.ElementCount} elements).", nameof(values));
        }

        var tensor = Zeros(DTypeOf<T>(), shape);
        values.CopyTo(tensor.AsSpan<T>());
        return tensor;
    }

    /// <summary>A new host tensor holding a copy of <paramref name="values"/>.</summary>
    public static Tensor FromArray<T>(T[] values, params ReadOnlySpan<int> dims)
        where T : unmanaged => FromSpan<T>(values, new TensorShape(dims));

    /// <summary>The dtype that stores elements of type <typeparamref name="T"/>.</summary>
    public static DType DTypeOf<T>()
        where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            return DType.F32;
        }

        if (typeof(T) == typeof(Half))
        {
            return DType.F16;
        }

        if (typeof(T) == typeof(BFloat16))
        {
            return DType.BF16;
        }

        if (typeof(T) == typeof(long))
        {
            return DType.I64;
        }

        if (typeof(T) == typeof(int))
        {
            return DType.I32;
        }

        if (typeof(T) == typeof(byte))
        {
            return DType.U8;
        }

        throw new NotSupportedException($"No tensor dtype stores {typeof(T).Name}.");
    }

    /// <summary>The raw bytes of a contiguous host tensor.</summary>
    public Span<byte> AsBytes()
    {
        var host = RequireHost();
        RequireContiguous();
        if (ByteLength > int.MaxValue)
        {
            throw new InvalidOperationException($"Tensor {Shape} ({ByteLength} bytes) is too large for one span.");
        }

        return host.GetBytes(ByteOffset, (int)ByteLength);
    }

    /// <summary>
    /// The elements of a contiguous host tensor. <typeparamref name="T"/> must match the dtype (byte also reads
    /// <see cref="DType.Bool"/>).
    /// </summary>
    public Span<T> AsSpan<T>()
        where T : unmanaged
    {
        var expected = typeof(T) == typeof(byte) && DType == DType.Bool ? DType.Bool : DTypeOf<T>();
        if (expected != DType)
        {
            throw new InvalidOperationException($"A {DType} tensor cannot be read as {typeof(T).Name}.");
        }

        return MemoryMarshal.Cast<byte, T>(AsBytes());
    }

    /// <summary>A view with a new shape of the same element count (contiguous tensors only).</summary>
    public Tensor Reshape(params ReadOnlySpan<int> dims)
    {
        var shape = new TensorShape(dims);
        if (shape.ElementCount != ElementCount)
        {
            throw new ArgumentException($"Cannot reshape {Shape} ({ElementCount} elements) to {shape}.", nameof(dims));
        }

        RequireContiguous();
        return new Tensor(Storage, ByteOffset, DType, shape, shape.ContiguousStrides());
    }

    /// <summary>A view with the axes reordered: result axis i is this tensor's axis <paramref name="axes"/>[i].</summary>
    public Tensor Permute(params ReadOnlySpan<int> axes)
    {
        if (axes.Length != Shape.Rank)
        {
            throw new ArgumentException($"Permute of {Shape} needs {Shape.Rank} axes, got {axes.Length}.", nameof(axes));
        }

        var dims = new int[axes.Length];
        var strides = new long[axes.Length];
        var seen = new bool[axes.Length];
        for (var i = 0; i < axes.Length; i++)
        {
            var a = Shape.NormalizeAxis(axes[i]);
            if (seen[a])
            {
                throw new ArgumentException($"Axis {a} appears twice in a permutation of {Shape}.", nameof(axes));
            }

            seen[a] = true;
            dims[i] = Shape[a];
            strides[i] = Strides[a];
        }

        return new Tensor(Storage, ByteOffset, DType, new TensorShape(dims), strides);
    }

    /// <summary>A view of <paramref name="length"/> entries of <paramref name="axis"/> starting at <paramref name="start"/>.</summary>
    public Tensor Slice(int axis, int start, int length)
    {
        var a = Shape.NormalizeAxis(axis);
        if (start < 0 || length < 0 || start + length > Shape[a])
        {
            throw new ArgumentOutOfRangeException(
                nameof(start), $"Slice [{start}, {start + length}) of axis {a} is outside shape {Shape}.");
        }

        var dims = Shape.Dims.ToArray();
        dims[a] = length;
        var strides = Strides.ToArray();
        return new Tensor(Storage, ByteOffset + (start * strides[a] * DType.SizeOf()), DType, new TensorShape(dims), strides);
    }

    /// <summary>A view of entry <paramref name="index"/> of <paramref name="axis"/>, without that axis (one rank less).</summary>
    public Tensor Select(int axis, int index)
    {
        var a = Shape.NormalizeAxis(axis);
        var row = Slice(a, index, 1);
        var dims = Shape.Dims.ToArray().Where((_, i) => i != a).ToArray();
        var strides = Strides.Where((_, i) => i != a).ToArray();
        return new Tensor(Storage, row.ByteOffset, DType, new TensorShape(dims), strides);
    }

    /// <summary>This tensor if contiguous, otherwise a contiguous host copy.</summary>
    public Tensor Contiguous()
    {
        if (IsContiguous)
        {
            return this;
        }

        var host = RequireHost();
        var result = Zeros(DType, Shape);
        if (ElementCount == 0)
        {
            return result;
        }

        // Views only have non-negative strides, so the bytes they read lie in [ByteOffset, ByteOffset + extent].
        var size = DType.SizeOf();
        long extent = 0;
        for (var d = 0; d < Shape.Rank; d++)
        {
            extent += (Shape[d] - 1) * Strides[d];
        }

        var source = host.GetBytes(ByteOffset, checked((int)((extent + 1) * size)));
        var target = result.AsBytes();
        var index = new int[Shape.Rank];
        long offset = 0;
        for (long n = 0; n < ElementCount; n++)
        {
            source.Slice((int)(offset * size), size).CopyTo(target.Slice((int)(n * size), size));
            for (var d = index.Length - 1; d >= 0; d--)
            {
                offset += Strides[d];
                if (++index[d] < Shape[d])
                {
                    break;
                }

                offset -= Shape[d] * Strides[d];
                index[d] = 0;
            }
        }

        return result;
    }

    /// <summary>The elements converted to float (host tensors of any dtype; bool and integers by value).</summary>
    public float[] ToFloat32Array()
    {
        var c = Contiguous();
        var result = new float[c.ElementCount];
        DTypeConversion.ToSingle(c.AsBytes(), c.DType, result);
        return result;
    }

    /// <summary>A new contiguous host tensor with elements converted to <paramref name="dtype"/>.</summary>
    public Tensor To(DType dtype)
    {
        var c = Contiguous();
        if (dtype == DType)
        {
            var copy = Zeros(dtype, Shape);
            c.AsBytes().CopyTo(copy.AsBytes());
            return copy;
        }

        var result = Zeros(dtype, Shape);
        DTypeConversion.Convert(c.AsBytes(), c.DType, result.AsBytes(), dtype);
        return result;
    }

    /// <inheritdoc/>
    public override string ToString() => $"Tensor({DType}, {Shape}, {Storage.Kind})";

    private HostStorage RequireHost() =>
        Storage as HostStorage
        ?? throw new InvalidOperationException($"This {DType} tensor of shape {Shape} lives in device memory; copy it to the host first.");

    private void RequireContiguous()
    {
        if (!IsContiguous)
        {
            throw new InvalidOperationException($"The tensor of shape {Shape} is a strided view; call Contiguous() first.");
        }
    }
}
