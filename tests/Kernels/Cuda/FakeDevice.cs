using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda;

/// <summary>
/// Device tensors over address ranges no one allocated, for planning launches without a GPU. Each new tensor starts
/// 1 MiB after the previous one (from <see cref="Base"/>; a larger one, at the next 64 KiB after its end), so a test
/// can tell which address went where, and every tensor is 64 KiB aligned unless made with an offset.
/// </summary>
internal sealed class FakeDevice
{
    /// <summary>The first tensor's address.</summary>
    public const ulong Base = 0x7100_0000_0000;

    /// <summary>The distance between consecutive tensors.</summary>
    public const ulong Spacing = 1 << 20;

    private ulong _next = Base;

    /// <summary>A contiguous device tensor of <paramref name="dims"/>.</summary>
    public Tensor Make(DType dtype, params int[] dims) => MakeAt(0, dtype, dims);

    /// <summary>A contiguous device tensor starting <paramref name="byteOffset"/> bytes into its own allocation (an unaligned view).</summary>
    public Tensor MakeAt(long byteOffset, DType dtype, params int[] dims)
    {
        var shape = new TensorShape(dims);
        var bytes = Math.Max(byteOffset + (shape.ElementCount * dtype.SizeOf()), 1);
        var storage = new DeviceStorage(_next, bytes, () => true, "fake");
        _next += Math.Max(Spacing, ((ulong)bytes + 0xFFFF) / 0x10000 * 0x10000);
        return Tensor.View(storage, byteOffset, dtype, shape);
    }

    /// <summary>The address the <paramref name="index"/>-th tensor (from 0) was given, when each was under 1 MiB.</summary>
    public static ulong Address(int index) => Base + ((ulong)index * Spacing);
}
