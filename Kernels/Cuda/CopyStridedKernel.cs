using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda;

/// <summary>Six 64-bit integers, laid out like <c>long long x[6]</c>.</summary>
[InlineArray(CopyStridedKernel.MaxRank)]
public struct Int64x6
{
    private long _element;
}

/// <summary>The parameters of CopyStrided.cu's entry points (176 bytes; mirrors <c>struct CopyStridedParams</c>).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct CopyStridedParams
{
    /// <summary>Device address of the source's element [0, ..., 0].</summary>
    public ulong Source;

    /// <summary>Device address of the destination's element [0, ..., 0].</summary>
    public ulong Destination;

    /// <summary>Elements (the product of the shape).</summary>
    public long Count;

    /// <summary>Dimensions in use, 1 to 6.</summary>
    public int Rank;

    private readonly int _padding;

    /// <summary>Sizes, outermost first.</summary>
    public Int64x6 Shape;

    /// <summary>Source strides in elements.</summary>
    public Int64x6 SourceStrides;

    /// <summary>Destination strides in elements.</summary>
    public Int64x6 DestinationStrides;
}

/// <summary>One dimension of a copy: its size and the stride on each side, in elements.</summary>
/// <param name="Size">Elements along it.</param>
/// <param name="SourceStride">Source stride.</param>
/// <param name="DestinationStride">Destination stride.</param>
public readonly record struct CopyDimension(long Size, long SourceStride, long DestinationStride);

/// <summary>
/// Launcher of CopyStrided.cu: copies any view (permuted, sliced, broadcast, padded; up to rank 6 after merging) of a
/// device tensor into another of the same dtype and shape. Dimensions contiguous on both sides are merged first; a
/// copy that is contiguous on both sides becomes one device memcpy unless the kernel is forced.
/// </summary>
public static class CopyStridedKernel
{
    /// <summary>The source file.</summary>
    public const string SourceFile = "CopyStrided.cu";

    /// <summary>The highest rank the kernel takes after merging.</summary>
    public const int MaxRank = 6;

    /// <summary>The entry points this launcher uses.</summary>
    public static IReadOnlyList<string> EntryPoints { get; } = ["copy_strided_f32", "copy_strided_f16", "copy_strided_bf16"];

    /// <summary>
    /// The dimensions of a copy with size-1 dimensions dropped and each dimension merged into the next inner one where
    /// both sides step over it contiguously; a copy of one element becomes one dimension of size 1.
    /// </summary>
    public static IReadOnlyList<CopyDimension> Collapse(TensorShape shape, IReadOnlyList<long> sourceStrides, IReadOnlyList<long> destinationStrides)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(sourceStrides);
        ArgumentNullException.ThrowIfNull(destinationStrides);
        var dims = new List<CopyDimension>();
        for (var i = 0; i < shape.Rank; i++)
        {
            if (shape[i] != 1)
            {
                dims.Add(new CopyDimension(shape[i], sourceStrides[i], destinationStrides[i]));
            }
        }

        for (var i = dims.Count - 2; i >= 0; i--)
        {
            var (outer, inner) = (dims[i], dims[i + 1]);
            if (outer.SourceStride == inner.SourceStride * inner.Size && outer.DestinationStride == inner.DestinationStride * inner.Size)
            {
                dims[i] = new CopyDimension(outer.Size * inner.Size, inner.SourceStride, inner.DestinationStride);
                dims.RemoveAt(i + 1);
            }
        }

        return dims.Count > 0 ? dims : [new CopyDimension(1, 1, 1)];
    }

    /// <summary>
    /// Plans copying <paramref name="source"/> into <paramref name="destination"/> (same dtype and shape): the kernel, a
    /// device memcpy when both sides are contiguous, or nothing when there is no element. <paramref name="forceKernel"/>
    /// takes the kernel even where a memcpy would do (tests use it).
    /// </summary>
    public static LaunchOrMemcpy<CopyStridedParams> Plan(Tensor source, Tensor destination, bool forceKernel = false, int maxBlocks = ElementwiseGrid.DefaultMaxBlocks)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        var suffix = ElementwiseGrid.Suffix(source.DType, nameof(source));
        if (source.DType != destination.DType || source.Shape != destination.Shape)
        {
            throw new ArgumentException(
                $"A strided copy needs the same dtype and shape: source {source.DType} {source.Shape}, destination {destination.DType} {destination.Shape}.", nameof(destination));
        }

        var src = CheckedAddress(source, nameof(source));
        var dst = CheckedAddress(destination, nameof(destination));
        if (source.ElementCount == 0)
        {
            return new LaunchOrMemcpy<CopyStridedParams>(null, null);
        }

        var dims = Collapse(source.Shape, source.Strides, destination.Strides);
        if (!forceKernel && dims.Count == 1 && dims[0].SourceStride == 1 && dims[0].DestinationStride == 1)
        {
            return new LaunchOrMemcpy<CopyStridedParams>(null, new DeviceMemcpy(dst, src, source.ByteLength));
        }

        if (dims.Count > MaxRank)
        {
            throw new ArgumentException(
                $"A strided copy of shape {source.Shape} (source strides [{string.Join(", ", source.Strides)}], destination strides [{string.Join(", ", destination.Strides)}]) " +
                $"still has {dims.Count} dimensions after merging; the kernel takes at most {MaxRank}.", nameof(source));
        }

        var parameters = new CopyStridedParams { Source = src, Destination = dst, Count = source.ElementCount, Rank = dims.Count };
        for (var i = 0; i < dims.Count; i++)
        {
            parameters.Shape[i] = dims[i].Size;
            parameters.SourceStrides[i] = dims[i].SourceStride;
            parameters.DestinationStrides[i] = dims[i].DestinationStride;
        }

        return new LaunchOrMemcpy<CopyStridedParams>(new KernelLaunch<CopyStridedParams>(SourceFile, $"copy_strided_{suffix}", ElementwiseGrid.For(source.ElementCount, maxBlocks), parameters), null);
    }

    /// <summary>The tensor's device address, after checking that every element it reaches lies in its storage.</summary>
    private static ulong CheckedAddress(Tensor t, string what)
    {
        var address = t.DeviceAddress(what);
        if (t.ElementCount > 0)
        {
            long last = 0;
            for (var i = 0; i < t.Shape.Rank; i++)
            {
                last += (t.Shape[i] - 1) * t.Strides[i];
            }

            ((DeviceStorage)t.Storage).AddressOf(t.ByteOffset, (last + 1) * t.DType.SizeOf());
        }

        return address;
    }
}
