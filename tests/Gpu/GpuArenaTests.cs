using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Gpu;

/// <summary>A planned arena on a real device: one allocation of the planned peak, buffers that do not clash.</summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuArenaTests
{
    [Fact]
    public void The_reported_peak_is_what_was_allocated_and_live_buffers_keep_their_values()
    {
        var gpu = GpuProbe.Require();
        var plan = new ArenaPlan();
        var a = plan.Add("a", 1 << 20, 0, 2);
        var b = plan.Add("b", 1 << 20, 1, 3);
        var c = plan.Add("c", 1 << 20, 3, 4);
        var before = gpu.Context.MemoryInfo().Free;
        using var arena = DeviceArena.Create(plan, new CudaDeviceAllocator(gpu.Context));
        Assert.Equal(plan.Peak, arena.Bytes);
        Assert.Equal(2L << 20, plan.Peak);
        if (!GpuProbe.UnderSanitizer)
        {
            Assert.True(before - gpu.Context.MemoryInfo().Free >= plan.Peak);
        }
        Assert.Equal(arena.AddressOf(a), arena.AddressOf(c));

        // a and b are alive together: writing one must not touch the other.
        var storage = new DeviceStorage(arena.AddressOf(a), 1 << 20, () => true, "arena a");
        var other = new DeviceStorage(arena.AddressOf(b), 1 << 20, () => true, "arena b");
        var ones = Tensor.FromArray(Enumerable.Repeat(1f, 1 << 18).ToArray(), 1 << 18);
        var twos = Tensor.FromArray(Enumerable.Repeat(2f, 1 << 18).ToArray(), 1 << 18);
        gpu.Transfer.Upload(ones, Tensor.View(storage, 0, DType.F32, ones.Shape), gpu.Stream);
        gpu.Transfer.Upload(twos, Tensor.View(other, 0, DType.F32, twos.Shape), gpu.Stream);
        Assert.All(gpu.Transfer.ToHost(Tensor.View(storage, 0, DType.F32, ones.Shape), gpu.Stream).ToFloat32Array(), v => Assert.Equal(1f, v));
    }
}
