using System.Runtime.InteropServices;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda;

/// <summary>The parameters of Resample.cu's entry points (48 bytes; mirrors <c>struct ResampleParams</c>).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct ResampleParams
{
    /// <summary>Device address of x's element 0.</summary>
    public ulong Source;

    /// <summary>Device address of y's element 0.</summary>
    public ulong Destination;

    /// <summary>Elements of y.</summary>
    public long Count;

    /// <summary>H.</summary>
    public int InHeight;

    /// <summary>W.</summary>
    public int InWidth;

    /// <summary>OH.</summary>
    public int OutHeight;

    /// <summary>OW.</summary>
    public int OutWidth;

    /// <summary>C.</summary>
    public int Channels;

    private readonly int _padding;
}

/// <summary>
/// Launcher of Resample.cu: <see cref="IOps.UpsampleNearest"/> and <see cref="IOps.AdaptiveAvgPool2d"/> on contiguous
/// channels-last device images (fp32, fp16 or bf16), with PyTorch's index rules in exact integer arithmetic, into an
/// output (N, OH, OW, C) of x's dtype that the caller provides and that does not overlap x.
/// </summary>
public static class ResampleKernel
{
    /// <summary>The source file.</summary>
    public const string SourceFile = "Resample.cu";

    /// <summary>The entry points this launcher uses.</summary>
    public static IReadOnlyList<string> EntryPoints { get; } =
        ["resample_nearest_f32", "resample_nearest_f16", "resample_nearest_bf16", "resample_pool_f32", "resample_pool_f16", "resample_pool_bf16"];

    /// <summary>The launch of <c>y = UpsampleNearest(x, OH, OW)</c> with (OH, OW) taken from y's shape, or null when y has no element.</summary>
    public static KernelLaunch<ResampleParams>? PlanNearest(Tensor x, Tensor y, int maxBlocks = ElementwiseGrid.DefaultMaxBlocks) =>
        Plan("UpsampleNearest", "nearest", x, y, maxBlocks);

    /// <summary>The launch of <c>y = AdaptiveAvgPool2d(x, OH, OW)</c> with (OH, OW) taken from y's shape, or null when y has no element.</summary>
    public static KernelLaunch<ResampleParams>? PlanPool(Tensor x, Tensor y, int maxBlocks = ElementwiseGrid.DefaultMaxBlocks) =>
        Plan("AdaptiveAvgPool2d", "pool", x, y, maxBlocks);

    private static KernelLaunch<ResampleParams>? Plan(string op, string variant, Tensor x, Tensor y, int maxBlocks)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (y.Shape.Rank != 4)
        {
            throw OpShapes.Fail(op, $"y must be (N, OH, OW, C), got {y.Shape}.");
        }

        var outShape = OpShapes.Resize(op, x, y.Shape[1], y.Shape[2]);
        var src = LaunchChecks.Device(op, nameof(x), x);
        var dst = LaunchChecks.Exactly(op, nameof(y), y, x.DType, outShape);
        LaunchChecks.Disjoint(op, nameof(y), y, dst, nameof(x), x, src);
        if (y.ElementCount == 0)
        {
            return null;
        }

        var parameters = new ResampleParams
        {
            Source = src,
            Destination = dst,
            Count = y.ElementCount,
            InHeight = x.Shape[1],
            InWidth = x.Shape[2],
            OutHeight = y.Shape[1],
            OutWidth = y.Shape[2],
            Channels = x.Shape[3],
        };
        return new KernelLaunch<ResampleParams>(SourceFile, $"resample_{variant}_{ElementwiseGrid.Suffix(x.DType, nameof(x))}", ElementwiseGrid.For(y.ElementCount, maxBlocks), parameters);
    }
}
