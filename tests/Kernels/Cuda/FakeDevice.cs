using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda;

/// <summary>
/// Device tensors over address ranges no one allocated, for planning launches without a GPU. Each new tensor starts
/// 1 MiB after the previous one (from <see cref="Base"/>), so a test can tell which address went where.
/// </summary>
internal sealed class FakeDevice
{
    /// <summary>The first tensor's address.</summary>
    public const ulong Base = 0x7100_0000_0000;

    /// <summary>The distance between consecutive tensors.</summary>
    public const ulong Spacing = 1 << 20;

    private ulong _next = Base;

    /// <summary>A contiguous device tensor of <paramref name="dims"/> (at most 1 MiB of elements).</summary>
    public Tensor Make(DType dtype, params int[] dims)
    {
        var shape = new TensorShape(dims);
        var bytes = Math.Max(shape.ElementCount * dtype.SizeOf(), 1);
        var storage = new DeviceStorage(_next, bytes, () => true, "fake");
        _next += Math.Max(Spacing, (ulong)bytes);
        return Tensor.View(storage, 0, dtype, shape);
    }

    /// <summary>The address the <paramref name="index"/>-th tensor (from 0) was given, when each was under 1 MiB.</summary>
    public static ulong Address(int index) => Base + ((ulong)index * Spacing);
}
