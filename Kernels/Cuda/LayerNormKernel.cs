using System.Runtime.InteropServices;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda;

/// <summary>The parameters of LayerNorm.cu's entry points (48 bytes; mirrors <c>struct LayerNormParams</c>).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct LayerNormParams
{
    /// <summary>Device address of x's element 0.</summary>
    public ulong X;

    /// <summary>Device address of the output's element 0.</summary>
    public ulong Y;

    /// <summary>Device address of gamma [C].</summary>
    public ulong Gamma;

    /// <summary>Device address of beta [C].</summary>
    public ulong Beta;

    /// <summary>Rows (elements / C).</summary>
    public long Rows;

    /// <summary>C.</summary>
    public int Channels;

    /// <summary>Added to the variance.</summary>
    public float Eps;
}

/// <summary>
/// Launcher of LayerNorm.cu: <see cref="IOps.LayerNorm"/> over the last axis of a contiguous device tensor (fp32, fp16
/// or bf16; gamma and beta in its dtype), one warp per row, two-pass fp32 statistics, into an output the caller
/// provides (x's dtype and shape; it may be x).
/// </summary>
public static class LayerNormKernel
{
    /// <summary>The source file.</summary>
    public const string SourceFile = "LayerNorm.cu";

    /// <summary>Rows per 256-thread block (one warp each).</summary>
    public const int RowsPerBlock = 8;

    private const string Op = "LayerNorm";

    /// <summary>The entry points this launcher uses.</summary>
    public static IReadOnlyList<string> EntryPoints { get; } = ["layer_norm_f32", "layer_norm_f16", "layer_norm_bf16"];

    /// <summary>The launch, or null when x has no element. At most <paramref name="maxBlocks"/> blocks; they loop over rows.</summary>
    public static KernelLaunch<LayerNormParams>? Plan(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, int maxBlocks = ElementwiseGrid.DefaultMaxBlocks)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(gamma);
        ArgumentNullException.ThrowIfNull(beta);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBlocks);
        OpShapes.LayerNorm(x, gamma, beta);
        var suffix = ElementwiseGrid.Suffix(x.DType, nameof(x));
        var c = x.Shape[^1];
        var parameters = new LayerNormParams
        {
            X = LaunchChecks.Device(Op, nameof(x), x),
            Y = LaunchChecks.Exactly(Op, nameof(y), y, x.DType, x.Shape),
            Gamma = LaunchChecks.Exactly(Op, nameof(gamma), gamma, x.DType, new TensorShape(c)),
            Beta = LaunchChecks.Exactly(Op, nameof(beta), beta, x.DType, new TensorShape(c)),
            Rows = c == 0 ? 0 : x.ElementCount / c,
            Channels = c,
            Eps = eps,
        };
        if (x.ElementCount == 0)
        {
            return null;
        }

        var blocks = Math.Min((parameters.Rows + RowsPerBlock - 1) / RowsPerBlock, maxBlocks);
        return new KernelLaunch<LayerNormParams>(SourceFile, $"layer_norm_{suffix}", new LaunchConfig(new Dim3((uint)blocks), new Dim3(RowsPerBlock * 32)), parameters);
    }
}
