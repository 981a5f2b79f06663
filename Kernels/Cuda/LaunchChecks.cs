using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda;

/// <summary>
/// Argument checks the launchers share. Each throws <see cref="ArgumentException"/> starting with the op's name and
/// showing the tensors involved (dtype and shape), as <see cref="OpShapes"/> does for the ops themselves.
/// </summary>
internal static class LaunchChecks
{
    /// <summary>
    /// Checks that <paramref name="t"/> is a contiguous device tensor of a kernel dtype (F32, F16, BF16) and returns its
    /// device address.
    /// </summary>
    public static ulong Device(string op, string name, Tensor t)
    {
        ArgumentNullException.ThrowIfNull(t, name);
        ElementwiseGrid.Suffix(t.DType, name);
        if (!t.IsContiguous)
        {
            throw OpShapes.Fail(op, $"{name} must be contiguous; got a strided {t.DType} view of shape {t.Shape} (copy it first).");
        }

        return t.DeviceAddress(name);
    }

    /// <summary>Checks that <paramref name="t"/> is a contiguous device tensor of exactly <paramref name="dtype"/> and <paramref name="shape"/>.</summary>
    public static ulong Exactly(string op, string name, Tensor t, DType dtype, TensorShape shape)
    {
        ArgumentNullException.ThrowIfNull(t, name);
        if (t.DType != dtype || t.Shape != shape)
        {
            throw OpShapes.Fail(op, $"{name} must be {dtype} {shape}, got {t.DType} {t.Shape}.");
        }

        return Device(op, name, t);
    }

    /// <summary>Checks that <paramref name="t"/> is a contiguous F32 device tensor of at least <paramref name="elements"/> elements (any shape).</summary>
    public static ulong Float32Buffer(string op, string name, Tensor t, long elements, string purpose)
    {
        ArgumentNullException.ThrowIfNull(t, name);
        if (t.DType != DType.F32 || t.ElementCount < elements)
        {
            throw OpShapes.Fail(op, $"{name} must be an F32 tensor of at least {elements} elements ({purpose}), got {t.DType} {t.Shape}.");
        }

        return Device(op, name, t);
    }

    /// <summary>
    /// Checks that the bytes two tensors can reach do not overlap (for kernels that read one while writing the other).
    /// Each is a device tensor at <paramref name="address"/> / <paramref name="otherAddress"/>; a strided view reaches
    /// from its element 0 to its last element (strides are never negative).
    /// </summary>
    public static void Disjoint(string op, string name, Tensor t, ulong address, string otherName, Tensor other, ulong otherAddress)
    {
        var (bytes, otherBytes) = (ReachedBytes(t), ReachedBytes(other));
        if (bytes > 0 && otherBytes > 0 && address < otherAddress + (ulong)otherBytes && otherAddress < address + (ulong)bytes)
        {
            throw OpShapes.Fail(op, $"{name} {t.DType} {t.Shape} and {otherName} {other.DType} {other.Shape} overlap in memory; the kernel needs them apart.");
        }
    }

    /// <summary>Bytes from element 0 to the end of the last element (0 for an empty tensor).</summary>
    private static long ReachedBytes(Tensor t)
    {
        if (t.ElementCount == 0)
        {
            return 0;
        }

        long last = 0;
        for (var d = 0; d < t.Shape.Rank; d++)
        {
            last += (t.Shape[d] - 1) * t.Strides[d];
        }

        return (last + 1) * t.DType.SizeOf();
    }
}
