using System.Runtime.InteropServices;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda;

/// <summary>The parameters of Softmax.cu's entry points (32 bytes; mirrors <c>struct SoftmaxParams</c>).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct SoftmaxParams
{
    /// <summary>Device address of the fp32 scores [rows, cols].</summary>
    public ulong Scores;

    /// <summary>Device address of the probabilities [rows, cols].</summary>
    public ulong Probabilities;

    /// <summary>Rows.</summary>
    public long Rows;

    /// <summary>Columns (keys), at least 1.</summary>
    public int Cols;

    /// <summary>Multiplies every score, in fp32, before the softmax.</summary>
    public float Scale;
}

/// <summary>
/// Launcher of Softmax.cu: <c>probs = softmax(scores * scale)</c> along the last axis, fp32 scores in, fp32/fp16/bf16
/// probabilities out, one warp per row.
/// </summary>
public static class SoftmaxKernel
{
    /// <summary>The source file.</summary>
    public const string SourceFile = "Softmax.cu";

    /// <summary>Rows per block of 256 threads (one warp each).</summary>
    public const int RowsPerBlock = (int)ElementwiseGrid.BlockSize / 32;

    /// <summary>The entry points this launcher uses.</summary>
    public static IReadOnlyList<string> EntryPoints { get; } = ["softmax_f32", "softmax_f16", "softmax_bf16"];

    /// <summary>
    /// The launch turning <paramref name="scores"/> (F32, contiguous, rank 2 or more: rows of the last axis) into
    /// <paramref name="probabilities"/> (the same shape, contiguous), or null when there is no row.
    /// </summary>
    public static KernelLaunch<SoftmaxParams>? Plan(Tensor scores, Tensor probabilities, float scale, int maxBlocks = ElementwiseGrid.DefaultMaxBlocks)
    {
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentNullException.ThrowIfNull(probabilities);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBlocks);
        var suffix = ElementwiseGrid.Suffix(probabilities.DType, nameof(probabilities));
        if (scores.DType != DType.F32 || scores.Shape.Rank < 2 || scores.Shape != probabilities.Shape || !scores.IsContiguous || !probabilities.IsContiguous)
        {
            throw new ArgumentException(
                $"Softmax needs contiguous F32 scores of rank 2 or more and contiguous probabilities of the same shape; got scores {scores.DType} {scores.Shape}, probabilities {probabilities.DType} {probabilities.Shape}.",
                nameof(scores));
        }

        if (!float.IsFinite(scale) || scale <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(scale), scale, "Softmax: the scale must be positive and finite.");
        }

        var cols = scores.Shape[^1];
        var (src, dst) = (scores.DeviceAddress(nameof(scores)), probabilities.DeviceAddress(nameof(probabilities)));
        if (scores.ElementCount == 0)
        {
            return null;
        }

        var rows = scores.ElementCount / cols;
        var blocks = Math.Min((rows + RowsPerBlock - 1) / RowsPerBlock, maxBlocks);
        var parameters = new SoftmaxParams { Scores = src, Probabilities = dst, Rows = rows, Cols = cols, Scale = scale };
        return new KernelLaunch<SoftmaxParams>(SourceFile, $"softmax_{suffix}", new LaunchConfig(new Dim3((uint)blocks), new Dim3(ElementwiseGrid.BlockSize)), parameters);
    }
}
