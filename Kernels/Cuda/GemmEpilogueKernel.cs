using System.Runtime.InteropServices;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda;

/// <summary>The parameters of GemmEpilogue.cu's entry points (72 bytes; mirrors <c>struct GemmEpilogueParams</c>).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct GemmEpilogueParams
{
    /// <summary>Device address of the fp32 GEMM result [rows, cols].</summary>
    public ulong Accumulator;

    /// <summary>Device address of the output [rows, cols].</summary>
    public ulong Destination;

    /// <summary>Device address of the bias [cols], or 0 for none.</summary>
    public ulong Bias;

    /// <summary>Device address of the per-group rows [groups, cols], or 0 for none.</summary>
    public ulong RowAdd;

    /// <summary>Device address of the residual [rows, cols], or 0 for none.</summary>
    public ulong Residual;

    /// <summary>Rows to finish.</summary>
    public long Rows;

    /// <summary>The global index of row 0, which fixes each row's group.</summary>
    public long RowBegin;

    /// <summary>Rows per group of <see cref="RowAdd"/> (pixels per image).</summary>
    public long GroupRows;

    /// <summary>Columns.</summary>
    public int Cols;

    private readonly int _padding;
}

/// <summary>
/// Launcher of GemmEpilogue.cu: finishes a GEMM that wrote fp32 results, <c>dst = acc + bias + rowAdd[group] + residual</c>
/// in fp32 with one rounding to dst's dtype (fp32, fp16 or bf16). The addends are optional.
/// </summary>
public static class GemmEpilogueKernel
{
    /// <summary>The source file.</summary>
    public const string SourceFile = "GemmEpilogue.cu";

    /// <summary>The entry points this launcher uses.</summary>
    public static IReadOnlyList<string> EntryPoints { get; } = ["gemm_epilogue_f32", "gemm_epilogue_f16", "gemm_epilogue_bf16"];

    /// <summary>
    /// The launch finishing rows [<paramref name="rowBegin"/>, rowBegin + rows) of a result: <paramref name="accumulator"/>
    /// is the fp32 [rows, cols] GEMM output of those rows, <paramref name="destination"/> and <paramref name="residual"/>
    /// the [rows, cols] slices of the output and residual, <paramref name="bias"/> [cols], and <paramref name="rowAdd"/>
    /// [groups, cols] with global row i in group i / <paramref name="groupRows"/>. All contiguous, in destination's dtype
    /// (the accumulator fp32). Null when there is no element.
    /// </summary>
    public static KernelLaunch<GemmEpilogueParams>? Plan(
        Tensor accumulator, Tensor destination, Tensor? bias, Tensor? rowAdd, Tensor? residual, long rowBegin = 0, long groupRows = 1,
        int maxBlocks = ElementwiseGrid.DefaultMaxBlocks)
    {
        ArgumentNullException.ThrowIfNull(accumulator);
        ArgumentNullException.ThrowIfNull(destination);
        var suffix = ElementwiseGrid.Suffix(destination.DType, nameof(destination));
        if (accumulator.DType != DType.F32 || accumulator.Shape.Rank != 2 || destination.Shape != accumulator.Shape
            || !accumulator.IsContiguous || !destination.IsContiguous)
        {
            throw new ArgumentException(
                $"GEMM epilogue: the accumulator must be a contiguous F32 [rows, cols] matrix and the destination a contiguous one of its shape; got accumulator {accumulator.DType} {accumulator.Shape}, destination {destination.DType} {destination.Shape}.",
                nameof(destination));
        }

        var (rows, cols) = (accumulator.Shape[0], accumulator.Shape[1]);
        var groups = rowAdd is null ? 0 : rowAdd.Shape[0];
        Check(bias, "bias", new TensorShape(cols), destination);
        if (rowAdd is not null)
        {
            Check(rowAdd, "rowAdd", new TensorShape(groups, cols), destination);
            if (groupRows < 1 || rowBegin < 0 || (rows > 0 && (rowBegin + rows - 1) / groupRows >= groups))
            {
                throw new ArgumentException(
                    $"GEMM epilogue: rows [{rowBegin}, {rowBegin + rows}) in groups of {groupRows} need more than the {groups} rows of rowAdd {rowAdd.Shape}.", nameof(rowAdd));
            }
        }

        Check(residual, "residual", destination.Shape, destination);
        var parameters = new GemmEpilogueParams
        {
            Accumulator = accumulator.DeviceAddress(nameof(accumulator)),
            Destination = destination.DeviceAddress(nameof(destination)),
            Bias = bias?.DeviceAddress(nameof(bias)) ?? 0,
            RowAdd = rowAdd?.DeviceAddress(nameof(rowAdd)) ?? 0,
            Residual = residual?.DeviceAddress(nameof(residual)) ?? 0,
            Rows = rows,
            RowBegin = rowBegin,
            GroupRows = Math.Max(groupRows, 1),
            Cols = cols,
        };
        return rows == 0 || cols == 0
            ? null
            : new KernelLaunch<GemmEpilogueParams>(SourceFile, $"gemm_epilogue_{suffix}", ElementwiseGrid.For((long)rows * cols, maxBlocks), parameters);
    }

    private static void Check(Tensor? t, string name, TensorShape shape, Tensor destination)
    {
        if (t is not null && (t.Shape != shape || t.DType != destination.DType || !t.IsContiguous))
        {
            throw new ArgumentException(
                $"GEMM epilogue: {name} must be a contiguous {destination.DType} {shape} for destination {destination.Shape}; got {t.DType} {t.Shape}{(t.IsContiguous ? "" : " (strided)")}.", name);
        }
    }
}
