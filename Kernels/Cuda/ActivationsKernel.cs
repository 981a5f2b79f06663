using System.Runtime.InteropServices;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda;

/// <summary>The parameters of Activations.cu's entry points (32 bytes; mirrors <c>struct ActivationsParams</c>).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct ActivationsParams
{
    /// <summary>Device address of x's element 0.</summary>
    public ulong Source;

    /// <summary>Device address of y's element 0.</summary>
    public ulong Destination;

    /// <summary>Output elements.</summary>
    public long Count;

    /// <summary>GEGLU: D, the output's last dimension (0 for the pointwise activations).</summary>
    public long Width;
}

/// <summary>A pointwise activation of Activations.cu.</summary>
public enum Activation
{
    /// <summary><see cref="IOps.Silu"/>.</summary>
    Silu,

    /// <summary><see cref="IOps.Gelu"/> (exact, erf).</summary>
    Gelu,

    /// <summary><see cref="IOps.QuickGelu"/>.</summary>
    QuickGelu,
}

/// <summary>
/// Launcher of Activations.cu: <see cref="IOps.Silu"/>, <see cref="IOps.Gelu"/>, <see cref="IOps.QuickGelu"/> and
/// <see cref="IOps.Geglu"/> on contiguous device tensors (fp32, fp16 or bf16), fp32 arithmetic, into an output the
/// caller provides in x's dtype (for the pointwise ones it may be x).
/// </summary>
public static class ActivationsKernel
{
    /// <summary>The source file.</summary>
    public const string SourceFile = "Activations.cu";

    /// <summary>The entry points this launcher uses.</summary>
    public static IReadOnlyList<string> EntryPoints { get; } =
    [
        "activations_silu_f32", "activations_silu_f16", "activations_silu_bf16",
        "activations_gelu_f32", "activations_gelu_f16", "activations_gelu_bf16",
        "activations_quickgelu_f32", "activations_quickgelu_f16", "activations_quickgelu_bf16",
        "activations_geglu_f32", "activations_geglu_f16", "activations_geglu_bf16",
    ];

    /// <summary>The launch of <c>y = f(x)</c> (same dtype and shape), or null when x has no element.</summary>
    public static KernelLaunch<ActivationsParams>? Plan(Activation activation, Tensor x, Tensor y, int maxBlocks = ElementwiseGrid.DefaultMaxBlocks)
    {
        var op = activation.ToString();
        var name = activation switch
        {
            Activation.Silu => "silu",
            Activation.Gelu => "gelu",
            Activation.QuickGelu => "quickgelu",
            _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "Not an activation of Activations.cu."),
        };
        var src = LaunchChecks.Device(op, nameof(x), x);
        var dst = LaunchChecks.Exactly(op, nameof(y), y, x.DType, x.Shape);
        if (x.ElementCount == 0)
        {
            return null;
        }

        var parameters = new ActivationsParams { Source = src, Destination = dst, Count = x.ElementCount };
        return new KernelLaunch<ActivationsParams>(SourceFile, $"activations_{name}_{ElementwiseGrid.Suffix(x.DType, nameof(x))}", ElementwiseGrid.For(x.ElementCount, maxBlocks), parameters);
    }

    /// <summary>
    /// The launch of <c>y = Geglu(x)</c>: x (..., 2D) of value and gate halves, y (..., D) in x's dtype, not overlapping x.
    /// Null when y has no element.
    /// </summary>
    public static KernelLaunch<ActivationsParams>? PlanGeglu(Tensor x, Tensor y, int maxBlocks = ElementwiseGrid.DefaultMaxBlocks)
    {
        const string Op = "Geglu";
        ArgumentNullException.ThrowIfNull(x);
        var outShape = OpShapes.Geglu(x);
        var src = LaunchChecks.Device(Op, nameof(x), x);
        var dst = LaunchChecks.Exactly(Op, nameof(y), y, x.DType, outShape);
        LaunchChecks.Disjoint(Op, nameof(y), y, dst, nameof(x), x, src);
        if (y.ElementCount == 0)
        {
            return null;
        }

        var parameters = new ActivationsParams { Source = src, Destination = dst, Count = y.ElementCount, Width = outShape[^1] };
        return new KernelLaunch<ActivationsParams>(SourceFile, $"activations_geglu_{ElementwiseGrid.Suffix(x.DType, nameof(x))}", ElementwiseGrid.For(y.ElementCount, maxBlocks), parameters);
    }
}
