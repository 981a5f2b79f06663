using System.Runtime.InteropServices;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda;

/// <summary>The parameters of Add.cu's entry points (48 bytes; mirrors <c>struct AddParams</c>).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct AddParams
{
    /// <summary>Device address of a's element 0.</summary>
    public ulong A;

    /// <summary>Device address of b's element 0.</summary>
    public ulong B;

    /// <summary>Device address of the output's element 0.</summary>
    public ulong Output;

    /// <summary>Elements of a and of the output.</summary>
    public long Count;

    /// <summary>Rows: elements of a per leading index (0 for the plain add).</summary>
    public long RowElements;

    /// <summary>Rows: C (0 for the plain add).</summary>
    public int Channels;

    /// <summary>Multiplies b.</summary>
    public float Scale;
}

/// <summary>
/// Launcher of Add.cu: <see cref="IOps.Add"/> (<c>a + scale * b</c>, same shape) and <see cref="IOps.AddBroadcastRows"/>
/// (<c>x[n, ..., c] + scale * rows[n, c]</c>) on contiguous device tensors of one dtype (fp32, fp16 or bf16), fp32
/// arithmetic, into an output the caller provides (a's dtype and shape; it may be a or b).
/// </summary>
public static class AddKernel
{
    /// <summary>The source file.</summary>
    public const string SourceFile = "Add.cu";

    /// <summary>The entry points this launcher uses.</summary>
    public static IReadOnlyList<string> EntryPoints { get; } = ["add_f32", "add_f16", "add_bf16", "add_rows_f32", "add_rows_f16", "add_rows_bf16"];

    /// <summary>The launch of <c>output = a + scale * b</c>, or null when a has no element.</summary>
    public static KernelLaunch<AddParams>? Plan(Tensor a, Tensor b, Tensor output, float scale = 1f, int maxBlocks = ElementwiseGrid.DefaultMaxBlocks)
    {
        const string Op = "Add";
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        OpShapes.SameShape(Op, a, b);
        var parameters = new AddParams
        {
            A = LaunchChecks.Device(Op, nameof(a), a),
            B = LaunchChecks.Exactly(Op, nameof(b), b, a.DType, a.Shape),
            Output = LaunchChecks.Exactly(Op, nameof(output), output, a.DType, a.Shape),
            Count = a.ElementCount,
            Scale = scale,
        };
        return a.ElementCount == 0
            ? null
            : new KernelLaunch<AddParams>(SourceFile, $"add_{ElementwiseGrid.Suffix(a.DType, nameof(a))}", ElementwiseGrid.For(a.ElementCount, maxBlocks), parameters);
    }

    /// <summary>The launch of <c>output[n, ..., c] = x[n, ..., c] + scale * rows[n, c]</c>, or null when x has no element.</summary>
    public static KernelLaunch<AddParams>? PlanRows(Tensor x, Tensor rows, Tensor output, float scale = 1f, int maxBlocks = ElementwiseGrid.DefaultMaxBlocks)
    {
        const string Op = "AddBroadcastRows";
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(rows);
        OpShapes.AddBroadcastRows(x, rows);
        var parameters = new AddParams
        {
            A = LaunchChecks.Device(Op, nameof(x), x),
            B = LaunchChecks.Exactly(Op, nameof(rows), rows, x.DType, rows.Shape),
            Output = LaunchChecks.Exactly(Op, nameof(output), output, x.DType, x.Shape),
            Count = x.ElementCount,
            RowElements = x.Shape[0] == 0 ? 0 : x.ElementCount / x.Shape[0],
            Channels = x.Shape[^1],
            Scale = scale,
        };
        return x.ElementCount == 0
            ? null
            : new KernelLaunch<AddParams>(SourceFile, $"add_rows_{ElementwiseGrid.Suffix(x.DType, nameof(x))}", ElementwiseGrid.For(x.ElementCount, maxBlocks), parameters);
    }
}
