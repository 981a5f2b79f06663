using CudaI2V.Kernels.Cpu;
using CudaI2V.Kernels.Cuda;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Gpu;

/// <summary>
/// Activations, adds, resampling, the non-finite count and the uploaded timestep features on a real GPU against CpuOps
/// on the same rounded inputs (skipped without a GPU).
/// </summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuElementwiseKernelTests
{
    private static readonly CpuOps Cpu = new();

    public static TheoryData<Activation, DType> Activations()
    {
        var data = new TheoryData<Activation, DType>();
        foreach (var activation in Enum.GetValues<Activation>())
        {
            foreach (var dtype in new[] { DType.F32, DType.F16, DType.BF16 })
            {
                data.Add(activation, dtype);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Activations))]
    public void Activations_match_the_cpu_reference(Activation activation, DType dtype)
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var x = GpuOpCheck.Rounded(GpuOpCheck.Uniform(61, 8f, 0f, 3, 1001), dtype); // [-8, 8): both tails of each curve
        var y = GpuOpCheck.Poisoned(gpu, scratch, dtype, 3, 1001);

        ActivationsKernel.Run(gpu.Kernels, gpu.Stream, activation, GpuOpCheck.Upload(scratch, x, dtype), y);

        var expected = activation switch
        {
            Activation.Silu => Cpu.Silu(x),
            Activation.Gelu => Cpu.Gelu(x),
            _ => Cpu.QuickGelu(x),
        };
        GpuOpCheck.For(dtype).AssertClose(expected, scratch.Download(y).To(DType.F32), $"{activation} {dtype}");
    }

    [Fact]
    public void Activations_run_in_place_and_with_a_capped_grid()
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var x = GpuOpCheck.Rounded(GpuOpCheck.Uniform(62, 4f, 0f, 100_003), DType.F16);
        var device = GpuOpCheck.Upload(scratch, x, DType.F16);

        gpu.Kernels.Launch(ActivationsKernel.SourceFile, ActivationsKernel.Plan(Activation.Silu, device, device, maxBlocks: 5)!.Value, gpu.Stream);

        GpuOpCheck.For(DType.F16).AssertClose(Cpu.Silu(x), scratch.Download(device).To(DType.F32), "SiLU in place");
    }

    public static TheoryData<DType, int[]> GegluCases()
    {
        var data = new TheoryData<DType, int[]>();
        foreach (var dtype in new[] { DType.F32, DType.F16, DType.BF16 })
        {
            data.Add(dtype, [2, 7, 10]);
            data.Add(dtype, [77, 66]);
            data.Add(dtype, [3, 2]);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(GegluCases))]
    public void Geglu_matches_the_cpu_reference(DType dtype, int[] dims)
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var x = GpuOpCheck.Rounded(GpuOpCheck.Uniform(63, 4f, 0f, dims), dtype);
        var outDims = (int[])dims.Clone();
        outDims[^1] /= 2;
        var y = GpuOpCheck.Poisoned(gpu, scratch, dtype, outDims);

        ActivationsKernel.RunGeglu(gpu.Kernels, gpu.Stream, GpuOpCheck.Upload(scratch, x, dtype), y);

        GpuOpCheck.For(dtype).AssertClose(Cpu.Geglu(x), scratch.Download(y).To(DType.F32), $"GEGLU {dtype} {x.Shape}");
    }

    [Theory]
    [MemberData(nameof(GpuOpCheck.StorageTypes), MemberType = typeof(GpuOpCheck))]
    public void Add_scaled_add_and_row_broadcast_match_the_reference(DType dtype)
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var a = GpuOpCheck.Rounded(GpuOpCheck.Uniform(64, 1f, 0f, 3, 7, 9, 5), dtype);
        var b = GpuOpCheck.Rounded(GpuOpCheck.Uniform(65, 1f, 0f, 3, 7, 9, 5), dtype);
        var rows = GpuOpCheck.Rounded(GpuOpCheck.Uniform(66, 1f, 0f, 3, 5), dtype);
        var tokens = GpuOpCheck.Rounded(GpuOpCheck.Uniform(67, 1f, 0f, 3, 5), dtype); // (N, C): rows of one position
        var (da, db) = (GpuOpCheck.Upload(scratch, a, dtype), GpuOpCheck.Upload(scratch, b, dtype));
        var (sum, scaled, broadcast, single) = (
            GpuOpCheck.Poisoned(gpu, scratch, dtype, 3, 7, 9, 5),
            GpuOpCheck.Poisoned(gpu, scratch, dtype, 3, 7, 9, 5),
            GpuOpCheck.Poisoned(gpu, scratch, dtype, 3, 7, 9, 5),
            GpuOpCheck.Poisoned(gpu, scratch, dtype, 3, 5));

        AddKernel.Run(gpu.Kernels, gpu.Stream, da, db, sum);
        AddKernel.Run(gpu.Kernels, gpu.Stream, da, db, scaled, scale: -0.375f);
        AddKernel.RunRows(gpu.Kernels, gpu.Stream, da, GpuOpCheck.Upload(scratch, rows, dtype), broadcast);
        AddKernel.RunRows(gpu.Kernels, gpu.Stream, GpuOpCheck.Upload(scratch, tokens, dtype), GpuOpCheck.Upload(scratch, rows, dtype), single);

        var tolerance = GpuOpCheck.For(dtype);
        tolerance.AssertClose(Cpu.Add(a, b), scratch.Download(sum).To(DType.F32), "a + b");
        var (av, bv) = (a.ToFloat32Array(), b.ToFloat32Array());
        tolerance.AssertClose(av.Select((v, i) => v + (-0.375 * bv[i])).ToArray(), scratch.Download(scaled).To(DType.F32), "a - 0.375 b");
        tolerance.AssertClose(Cpu.AddBroadcastRows(a, rows), scratch.Download(broadcast).To(DType.F32), "a + rows");
        tolerance.AssertClose(Cpu.AddBroadcastRows(tokens, rows), scratch.Download(single).To(DType.F32), "(N, C) + rows");
    }

    [Fact]
    public void Add_in_place_is_a_residual_update()
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var a = GpuOpCheck.Rounded(GpuOpCheck.Uniform(68, 1f, 0f, 1000, 33), DType.BF16);
        var b = GpuOpCheck.Rounded(GpuOpCheck.Uniform(69, 1f, 0f, 1000, 33), DType.BF16);
        var da = GpuOpCheck.Upload(scratch, a, DType.BF16);

        AddKernel.Run(gpu.Kernels, gpu.Stream, da, GpuOpCheck.Upload(scratch, b, DType.BF16), da);

        GpuOpCheck.For(DType.BF16).AssertClose(Cpu.Add(a, b), scratch.Download(da).To(DType.F32), "a += b");
    }

    public static TheoryData<DType, int, int> NearestSizes()
    {
        var data = new TheoryData<DType, int, int>();
        foreach (var dtype in new[] { DType.F32, DType.F16, DType.BF16 })
        {
            data.Add(dtype, 14, 18); // doubling
            data.Add(dtype, 13, 18); // an odd skip size
            data.Add(dtype, 4, 3);   // shrinking
            data.Add(dtype, 7, 9);   // the same size
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(NearestSizes))]
    public void Nearest_upsampling_copies_exactly_the_references_pixels(DType dtype, int outHeight, int outWidth)
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var x = GpuOpCheck.Rounded(GpuOpCheck.Uniform(70, 1f, 0f, 2, 7, 9, 3), dtype);
        var y = GpuOpCheck.Poisoned(gpu, scratch, dtype, 2, outHeight, outWidth, 3);

        ResampleKernel.RunNearest(gpu.Kernels, gpu.Stream, GpuOpCheck.Upload(scratch, x, dtype), y);

        Tolerance.Exact.AssertClose(Cpu.UpsampleNearest(x, outHeight, outWidth), scratch.Download(y).To(DType.F32), $"nearest 7x9 -> {outHeight}x{outWidth}");
    }

    public static TheoryData<DType, int[], int, int> PoolSizes()
    {
        var data = new TheoryData<DType, int[], int, int>();
        foreach (var dtype in new[] { DType.F32, DType.F16, DType.BF16 })
        {
            data.Add(dtype, [2, 7, 9, 3], 3, 4);   // uneven windows
            data.Add(dtype, [1, 13, 18, 5], 7, 9); // overlapping windows (13 -> 7)
            data.Add(dtype, [2, 4, 4, 3], 1, 1);   // global average
            data.Add(dtype, [1, 3, 3, 2], 5, 5);   // more outputs than inputs
            data.Add(dtype, [2, 5, 5, 4], 5, 5);   // identity
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(PoolSizes))]
    public void Adaptive_average_pooling_matches_the_cpu_reference(DType dtype, int[] dims, int outHeight, int outWidth)
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var x = GpuOpCheck.Rounded(GpuOpCheck.Uniform(71, 1f, 0f, dims), dtype);
        var y = GpuOpCheck.Poisoned(gpu, scratch, dtype, dims[0], outHeight, outWidth, dims[3]);

        ResampleKernel.RunPool(gpu.Kernels, gpu.Stream, GpuOpCheck.Upload(scratch, x, dtype), y);

        GpuOpCheck.For(dtype).AssertClose(Cpu.AdaptiveAvgPool2d(x, outHeight, outWidth), scratch.Download(y).To(DType.F32), $"pool {x.Shape} -> {outHeight}x{outWidth}");
    }

    [Theory]
    [MemberData(nameof(GpuOpCheck.StorageTypes), MemberType = typeof(GpuOpCheck))]
    public void The_non_finite_count_finds_every_nan_and_infinity(DType dtype)
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var values = GpuOpCheck.Uniform(72, 60000f, 0f, 300_001).ToFloat32Array();
        int[] positions = [0, 1, 77, 4096, 150_000, 299_999, 300_000];
        float[] bad = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -float.NaN, float.NaN, float.PositiveInfinity, float.NaN];
        for (var i = 0; i < positions.Length; i++)
        {
            values[positions[i]] = bad[i];
        }

        values[5] = 65504f; // the largest finite fp16: finite in every dtype
        values[6] = -3.3e38f; // finite in fp32 and bf16, infinite once rounded to fp16
        var x = GpuOpCheck.Upload(scratch, Tensor.FromSpan<float>(values, new TensorShape(values.Length)), dtype);
        var counters = scratch.Empty(DType.I64, 2);
        var expected = positions.Length + (dtype == DType.F16 ? 1 : 0);

        NonFiniteKernel.Run(gpu.Kernels, gpu.Stream, x, counters.Slice(0, 0, 1));
        DeviceMemory.SetBytesAsync(gpu.Stream, counters.Slice(0, 1, 1).DeviceAddress(), 0, sizeof(long)); // a launch alone does not zero
        gpu.Kernels.Launch(NonFiniteKernel.SourceFile, NonFiniteKernel.Plan(x, counters.Slice(0, 1, 1), maxBlocks: 3)!.Value, gpu.Stream);
        NonFiniteKernel.Run(gpu.Kernels, gpu.Stream, x, counters.Slice(0, 1, 1), accumulate: true);

        var counts = scratch.Download(counters).AsSpan<long>().ToArray();
        Assert.Equal(expected, counts[0]);
        Assert.Equal(2 * expected, counts[1]);
    }

    [Fact]
    public void A_clean_tensor_counts_zero_even_after_a_dirty_one()
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var dirty = scratch.Upload(Tensor.FromSpan<float>([1f, float.NaN, 2f], new TensorShape(3)).To(DType.F16));
        var clean = GpuOpCheck.Upload(scratch, GpuOpCheck.Uniform(73, 100f, 0f, 5000), DType.F16);
        var counter = scratch.Empty(DType.I64, 1);

        NonFiniteKernel.Run(gpu.Kernels, gpu.Stream, dirty, counter);
        Assert.Equal(1L, scratch.Download(counter).AsSpan<long>()[0]);
        NonFiniteKernel.Run(gpu.Kernels, gpu.Stream, clean, counter);
        Assert.Equal(0L, scratch.Download(counter).AsSpan<long>()[0]);
    }

    [Theory]
    [MemberData(nameof(GpuOpCheck.StorageTypes), MemberType = typeof(GpuOpCheck))]
    public void Timestep_features_arrive_on_the_device_as_the_host_computed_them(DType dtype)
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        float[] timesteps = [999f, 981f, 1f, 0f];
        var output = GpuOpCheck.Poisoned(gpu, scratch, dtype, 4, 320);

        TimestepFeaturesUpload.Run(gpu.Transfer, gpu.Stream, timesteps, 320, flipSinToCos: true, 0f, 10000f, output);

        var expected = TimestepFeaturesUpload.OnHost(timesteps, 320, true, 0f, 10000f, dtype);
        Assert.Equal(expected.AsBytes().ToArray(), scratch.Download(output).AsBytes().ToArray());
    }
}
