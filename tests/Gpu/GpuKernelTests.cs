using CudaI2V.Kernels.Cuda;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Kernels.Cuda.Cases;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Gpu;

/// <summary>
/// What only a GPU can show about the launchers, beyond the case tables every kernel runs in
/// (<see cref="GpuKernelCaseTests"/>): planned launches captured into a CUDA graph replay to the direct results, and the
/// uploaded timestep features arrive as the host computed them (skipped without a GPU).
/// </summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuKernelTests
{
    public static TheoryData<DType> StorageTypes() => [.. KernelCases.StorageTypes];

    [Fact]
    public void A_captured_graph_replays_to_the_same_results_as_direct_launches()
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var a = scratch.Empty(DType.F32, 64, 48);
        var b = scratch.Empty(DType.F16, 64, 48);
        var c = scratch.Empty(DType.F16, 48, 64);
        void Work(CudaStream stream)
        {
            gpu.Kernels.Launch(stream, FillKernel.Plan(a, 0.1f));
            gpu.Kernels.Launch(stream, CastKernel.Plan(a, b));
            gpu.Kernels.Launch(stream, CopyStridedKernel.Plan(b.Permute(1, 0), c));
        }

        Work(gpu.Stream); // also loads the modules, which must not happen during a capture
        var direct = scratch.Download(c).AsBytes().ToArray();
        DeviceMemory.SetBytesAsync(gpu.Stream, c.DeviceAddress(), 0, c.ByteLength);
        DeviceMemory.SetBytesAsync(gpu.Stream, b.DeviceAddress(), 0, b.ByteLength);

        using var graph = CudaGraph.Capture(gpu.Stream, Work);
        Assert.All(scratch.Floats(c), v => Assert.Equal(0f, v)); // capturing ran nothing
        graph.Launch(gpu.Stream);
        var replayed = scratch.Download(c).AsBytes().ToArray();
        graph.Launch(gpu.Stream);
        var again = scratch.Download(c).AsBytes().ToArray();

        Assert.Equal(direct, replayed);
        Assert.Equal(direct, again);
    }

    [Theory]
    [MemberData(nameof(StorageTypes))]
    public void Timestep_features_arrive_on_the_device_as_the_host_computed_them(DType dtype)
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        float[] timesteps = [999f, 981f, 1f, 0f];
        var output = scratch.Empty(dtype, 4, 320);
        gpu.Kernels.Launch(gpu.Stream, FillKernel.Plan(output, float.NaN));

        TimestepFeaturesUpload.Run(gpu.Transfer, gpu.Stream, timesteps, 320, flipSinToCos: true, 0f, 10000f, output);

        var expected = TimestepFeaturesUpload.OnHost(timesteps, 320, true, 0f, 10000f, dtype);
        Assert.Equal(expected.AsBytes().ToArray(), scratch.Download(output).AsBytes().ToArray());
    }
}
