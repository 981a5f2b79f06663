using CudaI2V.Kernels.Cuda.Backend;
using CudaI2V.Kernels.Memory;
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

    [Fact]
    public void Weights_loaded_inside_a_scope_outlive_it_and_are_freed_with_their_block()
    {
        // A model may load inside a request's scope (a released model loads again when its stage needs it): what it
        // uploads, within its block or beyond it, and what it computes while loading belong to the block.
        var gpu = GpuProbe.Require();
        using var ops = new CudaOps(gpu.Context, new CudaOpsOptions(DType.F32));
        var values = Tensor.FromArray(Enumerable.Range(0, 4096).Select(i => (float)i).ToArray(), 4096);
        Tensor inBlock, beyond, computed;
        IWeightBlock block;
        using (ops.Memory.BeginScope())
        {
            block = ops.Memory.UploadReleasableWeightsInto([values.Shape]);
            inBlock = ops.FromHost(values);
            beyond = ops.FromHost(values);          // the block was sized for one
            computed = ops.Add(inBlock, beyond);
            block.EndUpload();
        }

        using (ops.Memory.BeginScope())
        {
            ops.Memory.Synchronize();
        }

        Assert.Equal(values.ToFloat32Array(), ops.ToHost(inBlock).ToFloat32Array());
        Assert.Equal(values.ToFloat32Array(), ops.ToHost(beyond).ToFloat32Array());
        Assert.Equal(values.ToFloat32Array().Select(v => 2 * v), ops.ToHost(computed).ToFloat32Array());
        Assert.True(ops.Memory.WeightBlockOverflow > 0);
        block.Dispose();
    }
}
