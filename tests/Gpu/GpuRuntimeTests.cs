using CudaI2V.Kernels.Cuda;
using CudaI2V.Native.Errors;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Compilation;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Gpu;

/// <summary>Context, memory, transfers, events, the module cache and launch errors on a real GPU (skipped without one).</summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuRuntimeTests
{
    [Fact]
    public void The_device_and_its_memory_are_reported()
    {
        var gpu = GpuProbe.Require();
        var device = gpu.Context.Device;
        var memory = gpu.Context.MemoryInfo();

        Assert.False(string.IsNullOrWhiteSpace(device.Name));
        Assert.True(device.Architecture >= 50, $"sm_{device.Architecture}");
        Assert.True(device.Multiprocessors > 0);
        Assert.Equal(device.TotalMemory, memory.Total);
        Assert.InRange(memory.Free, 1, memory.Total);
    }

    [Fact]
    public void An_allocation_takes_device_memory_and_disposal_returns_it()
    {
        var gpu = GpuProbe.Require();
        const long Bytes = 256L << 20;
        var before = gpu.Context.MemoryInfo().Free;

        var allocation = DeviceMemory.Allocate(gpu.Context, Bytes);
        var during = gpu.Context.MemoryInfo().Free;
        var view = allocation.View(DType.F16, new TensorShape(16));
        allocation.Dispose();
        var after = gpu.Context.MemoryInfo().Free;

        if (!GpuProbe.UnderSanitizer)
        {
            Assert.True(before - during >= Bytes, $"free went from {before} to {during} for {Bytes} bytes");
            Assert.True(after - during >= Bytes, $"free went from {during} to {after} after freeing");
        }

        Assert.Throws<ObjectDisposedException>(() => view.DeviceAddress());
        allocation.Dispose(); // twice is harmless
    }

    [Fact]
    public void Out_of_memory_is_a_cuda_exception_naming_the_call()
    {
        var gpu = GpuProbe.Require();
        var tooMuch = gpu.Context.MemoryInfo().Total * 2;

        var e = Assert.Throws<CudaException>(() => DeviceMemory.Allocate(gpu.Context, tooMuch));

        Assert.Equal("cuMemAlloc_v2", e.Api);
        Assert.Equal("CUDA_ERROR_OUT_OF_MEMORY", e.ErrorName);
        Assert.StartsWith("cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Uploads_and_downloads_round_trip_through_a_staging_buffer_smaller_than_the_tensor()
    {
        var gpu = GpuProbe.Require();
        using var transfer = new TensorTransfer(gpu.Context, stagingBytes: 1000); // 500-byte halves: many chunks, an odd tail
        using var scratch = new DeviceScratch(gpu);
        var host = new TestData(7).Uniform(10_007);
        var device = scratch.Empty(DType.F32, 10_007);

        transfer.Upload(host, device, gpu.Stream);
        var back = transfer.ToHost(device, gpu.Stream);

        Assert.Equal(host.AsBytes().ToArray(), back.AsBytes().ToArray());
    }

    [Fact]
    public void Memset_and_device_copies_run_in_stream_order()
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var a = scratch.Empty(DType.F32, 1000);
        var b = scratch.Empty(DType.F32, 1000);

        DeviceMemory.SetBytesAsync(gpu.Stream, a.DeviceAddress(), 0x3F, a.ByteLength); // 0x3F3F3F3F = 0.7470...
        DeviceMemory.CopyAsync(gpu.Stream, b.DeviceAddress(), a.DeviceAddress(), a.ByteLength);

        Assert.All(scratch.Floats(b), v => Assert.Equal(BitConverter.UInt32BitsToSingle(0x3F3F3F3F), v));
    }

    [Fact]
    public void Events_time_gpu_work_and_the_profiler_sums_it_by_name()
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        using var profiler = new EventProfiler(gpu.Context);
        var big = scratch.Empty(DType.F32, 1 << 24);

        for (var i = 0; i < 2; i++)
        {
            using (profiler.Measure("fill", gpu.Stream))
            {
                gpu.Kernels.Launch(gpu.Stream, FillKernel.Plan(big, i));
            }
        }

        using (profiler.Measure("memset", gpu.Stream))
        {
            DeviceMemory.SetBytesAsync(gpu.Stream, big.DeviceAddress(), 0, big.ByteLength);
        }

        var entries = profiler.Collect();

        Assert.Equal(["fill", "memset"], entries.Select(e => e.Name));
        Assert.Equal([2, 1], entries.Select(e => e.Count));
        Assert.All(entries, e => Assert.True(e.TotalMilliseconds > 0 && e.MinMilliseconds <= e.MaxMilliseconds, e.ToString()));
        Assert.Empty(profiler.Collect());
    }

    [Fact]
    public void A_launch_error_names_the_kernel()
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var tensor = scratch.Empty(DType.F32, 16);
        var launch = FillKernel.Plan(tensor, 1f)!.Value;
        var function = gpu.Kernels.Module(FillKernel.SourceFile).GetFunction(launch.Entry);

        // 2048 threads per block exceeds every GPU's limit of 1024: the driver refuses the launch at once, and this
        // error (unlike a fault inside a kernel) leaves the context usable.
        var tooWide = launch.Config with { Block = new Dim3(2048) };
        var e = Assert.Throws<CudaException>(() => KernelLauncher.Launch(function, tooWide, gpu.Stream, launch.Params));

        Assert.Equal("fill_f32", e.Kernel);
        Assert.StartsWith("kernel fill_f32: cuLaunchKernel failed: CUDA_ERROR_INVALID_VALUE", e.Message, StringComparison.Ordinal);
        gpu.Stream.Synchronize(); // still healthy
    }

    [Fact]
    public void Sync_launch_waits_for_each_kernel()
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var big = scratch.Empty(DType.F16, 1 << 26);
        var previous = KernelLauncher.SynchronizeEachLaunch;
        try
        {
            KernelLauncher.SynchronizeEachLaunch = true;
            gpu.Kernels.Launch(gpu.Stream, FillKernel.Plan(big, 3f));
            Assert.True(gpu.Stream.IsIdle, "with sync launch the stream is idle when the launch returns");
        }
        finally
        {
            KernelLauncher.SynchronizeEachLaunch = previous;
        }
    }

    [Fact]
    public void Modules_load_once_and_a_second_compiler_on_the_same_cache_compiles_nothing()
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        gpu.Kernels.Module(FillKernel.SourceFile); // compiled (or read) into the session's cache folder
        var first = gpu.Kernels.Module(CastKernel.SourceFile);
        Assert.Same(first, gpu.Kernels.Module(CastKernel.SourceFile));
        Assert.Equal(gpu.Kernels.Modules.Target.Name, first.Kernel.Target.Name);

        // What a second process sees: a fresh compiler and module cache over the same cache folder.
        var compiler = new KernelCompiler(new CacheRoot(gpu.CacheFolder));
        using var kernels = new CudaKernels(gpu.Context, compiler);
        var tensor = scratch.Empty(DType.BF16, 300);
        kernels.Launch(gpu.Stream, FillKernel.Plan(tensor, -2f));

        Assert.Equal(0, compiler.Compilations);
        Assert.Equal(1, compiler.DiskHits);
        Assert.All(scratch.Floats(tensor), v => Assert.Equal(-2f, v));
    }
}
