using System.Runtime.InteropServices;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda;

/// <summary>The parameters of NonFinite.cu's entry points (24 bytes; mirrors <c>struct NonFiniteParams</c>).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct NonFiniteParams
{
    /// <summary>Device address of x's element 0.</summary>
    public ulong Source;

    /// <summary>Device address of the 64-bit counter.</summary>
    public ulong Counter;

    /// <summary>Elements of x.</summary>
    public long Count;
}

/// <summary>A planned count of non-finite elements: zeroing the counter (unless accumulating), then the count.</summary>
/// <param name="ZeroCounter">Sets the 64-bit counter to 0, or null when the count is added to what it holds.</param>
/// <param name="Count">The counting launch, or null when x has no element.</param>
public sealed record NonFinitePlan(DeviceMemset? ZeroCounter, KernelLaunch<NonFiniteParams>? Count) : IKernelPlan
{
    /// <inheritdoc/>
    public void EnqueueOn(ILaunchTarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        ZeroCounter?.EnqueueOn(target);
        Count?.EnqueueOn(target);
    }
}

/// <summary>
/// Launcher of NonFinite.cu: counts the NaN and infinite elements of a contiguous device tensor (fp32, fp16 or bf16)
/// into element 0 of an I64 device tensor the caller provides (read it back after the stream's work, e.g. once per
/// denoising step). Several tensors can be counted into one counter, or each into its own element of one I64 tensor,
/// to say which part went bad.
/// </summary>
public static class NonFiniteKernel
{
    /// <summary>The source file.</summary>
    public const string SourceFile = "NonFinite.cu";

    private const string Op = "NonFinite";

    /// <summary>The entry points this launcher uses.</summary>
    public static IReadOnlyList<string> EntryPoints { get; } = ["non_finite_count_f32", "non_finite_count_f16", "non_finite_count_bf16"];

    /// <summary>
    /// Plans counting the non-finite elements of <paramref name="x"/> into <paramref name="counter"/>'s element 0: the
    /// counter is zeroed first unless <paramref name="accumulate"/> (then the count is added to what it holds); no
    /// launch when x has no element.
    /// </summary>
    public static NonFinitePlan Plan(Tensor x, Tensor counter, bool accumulate = false, int maxBlocks = ElementwiseGrid.DefaultMaxBlocks)
    {
        ArgumentNullException.ThrowIfNull(x);
        var source = LaunchChecks.Device(Op, nameof(x), x);
        var address = CounterAddress(counter);
        var zero = accumulate ? null : new DeviceMemset(address, 0, sizeof(long));
        return x.ElementCount == 0
            ? new NonFinitePlan(zero, null)
            : new NonFinitePlan(zero, new KernelLaunch<NonFiniteParams>(
                SourceFile,
                $"non_finite_count_{ElementwiseGrid.Suffix(x.DType, nameof(x))}",
                ElementwiseGrid.For(x.ElementCount, maxBlocks),
                new NonFiniteParams { Source = source, Counter = address, Count = x.ElementCount }));
    }

    private static ulong CounterAddress(Tensor counter)
    {
        ArgumentNullException.ThrowIfNull(counter);
        if (counter.DType != DType.I64 || counter.ElementCount < 1)
        {
            throw OpShapes.Fail(Op, $"counter must be an I64 tensor of at least one element, got {counter.DType} {counter.Shape}.");
        }

        var address = counter.DeviceAddress(nameof(counter));
        if (address % sizeof(long) != 0)
        {
            throw OpShapes.Fail(Op, $"counter's element 0 is at device address 0x{address:X}, not 8-byte aligned as a 64-bit atomic add needs.");
        }

        return address;
    }
}
