using System.Runtime.InteropServices;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda;

/// <summary>The parameters of Cast.cu's entry points (24 bytes; mirrors <c>struct CastParams</c>).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct CastParams
{
    /// <summary>Device address of the source's element 0.</summary>
    public ulong Source;

    /// <summary>Device address of the destination's element 0.</summary>
    public ulong Destination;

    /// <summary>Elements.</summary>
    public long Count;
}

/// <summary>
/// Launcher of Cast.cu: converts a contiguous device tensor between fp32, fp16 and bf16 (rounding to nearest even).
/// The same dtype on both sides is a plain device copy, no kernel.
/// </summary>
public static class CastKernel
{
    /// <summary>The source file.</summary>
    public const string SourceFile = "Cast.cu";

    /// <summary>The entry points this launcher uses.</summary>
    public static IReadOnlyList<string> EntryPoints { get; } =
        ["cast_f32_f16", "cast_f32_bf16", "cast_f16_f32", "cast_bf16_f32", "cast_f16_bf16", "cast_bf16_f16"];

    /// <summary>
    /// The conversion of <paramref name="source"/> into <paramref name="destination"/> (same shape, both contiguous): a
    /// launch, a plain device copy when the dtypes match, or nothing when there is no element.
    /// </summary>
    public static LaunchOrMemcpy<CastParams> Plan(Tensor source, Tensor destination, int maxBlocks = ElementwiseGrid.DefaultMaxBlocks)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        var from = ElementwiseGrid.Suffix(source.DType, nameof(source));
        var to = ElementwiseGrid.Suffix(destination.DType, nameof(destination));
        if (source.Shape != destination.Shape)
        {
            throw new ArgumentException($"Cast needs equal shapes: source {source.DType} {source.Shape}, destination {destination.DType} {destination.Shape}.", nameof(destination));
        }

        if (!source.IsContiguous || !destination.IsContiguous)
        {
            throw new ArgumentException($"Cast needs contiguous tensors (source {source.Shape}, destination {destination.Shape}); copy strided views first.", nameof(source));
        }

        var (src, dst) = (source.DeviceAddress(nameof(source)), destination.DeviceAddress(nameof(destination)));
        if (source.ElementCount == 0)
        {
            return new LaunchOrMemcpy<CastParams>(null, null);
        }

        if (source.DType == destination.DType)
        {
            return new LaunchOrMemcpy<CastParams>(null, new DeviceMemcpy(dst, src, source.ByteLength));
        }

        var parameters = new CastParams { Source = src, Destination = dst, Count = source.ElementCount };
        return new LaunchOrMemcpy<CastParams>(new KernelLaunch<CastParams>(SourceFile, $"cast_{from}_{to}", ElementwiseGrid.For(source.ElementCount, maxBlocks), parameters), null);
    }
}
