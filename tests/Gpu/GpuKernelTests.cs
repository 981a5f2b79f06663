using CudaI2V.Kernels.Cuda;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Gpu;

/// <summary>Fill, cast and strided copy on a real GPU against host conversions, bit for bit (skipped without a GPU).</summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuKernelTests
{
    /// <summary>Values that exercise rounding: ties, fp16 overflow and subnormals, infinities, NaN, signed zero.</summary>
    private static readonly float[] Specials =
    [
        0f, -0f, 1f, -1.5f, 1f / 3, 65504f, 65520f, 1e5f, 6e-8f, 1e-9f, 3.0e-5f, float.PositiveInfinity, float.NegativeInfinity,
        float.NaN, 1.00390625f, 1.01171875f, 3.4e38f, -2.5e-39f, BitConverter.UInt32BitsToSingle(0x3F808000), BitConverter.UInt32BitsToSingle(0x3F818000),
    ];

    public static TheoryData<DType> FloatTypes() => [DType.F32, DType.F16, DType.BF16];

    [Theory]
    [MemberData(nameof(FloatTypes))]
    public void Fill_writes_every_element_and_nothing_beyond(DType dtype)
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        const int Count = 1_000_003; // not a multiple of the block
        var buffer = scratch.Empty(dtype, Count + 64);
        DeviceMemory.SetBytesAsync(gpu.Stream, buffer.DeviceAddress(), 0xAB, buffer.ByteLength);
        var target = buffer.Slice(0, 0, Count);

        FillKernel.Run(gpu.Kernels, gpu.Stream, target, 1f / 3);

        var bytes = scratch.Download(buffer).AsBytes();
        var expected = Tensor.FromSpan<float>([1f / 3], new TensorShape(1)).To(dtype).AsBytes().ToArray();
        var size = dtype.SizeOf();
        for (var i = 0; i < Count; i++)
        {
            if (!bytes.Slice(i * size, size).SequenceEqual(expected))
            {
                Assert.Fail($"element {i} is not {1f / 3} in {dtype}");
            }
        }

        Assert.All(bytes[(Count * size)..].ToArray(), b => Assert.Equal(0xAB, b));
    }

    [Fact]
    public void Fill_with_a_capped_grid_still_covers_every_element()
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var target = scratch.Empty(DType.F16, 100_000);

        gpu.Kernels.Launch(FillKernel.SourceFile, FillKernel.Plan(target, 7f, maxBlocks: 3)!.Value, gpu.Stream);

        Assert.All(scratch.Floats(target), v => Assert.Equal(7f, v));
    }

    public static TheoryData<DType, DType> CastPairs() => new()
    {
        { DType.F32, DType.F16 }, { DType.F32, DType.BF16 }, { DType.F16, DType.F32 },
        { DType.BF16, DType.F32 }, { DType.F16, DType.BF16 }, { DType.BF16, DType.F16 }, { DType.F16, DType.F16 },
    };

    [Theory]
    [MemberData(nameof(CastPairs))]
    public void Cast_matches_the_host_conversion_bit_for_bit(DType from, DType to)
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var values = Specials.Concat(new TestData(11).Floats(5000, scale: 70000f)).Concat(new TestData(12).Floats(5000, scale: 1e-4f)).ToArray();
        var host = Tensor.FromSpan<float>(values, new TensorShape(values.Length)).To(from);
        var source = scratch.Upload(host);
        var destination = scratch.Empty(to, values.Length);

        CastKernel.Run(gpu.Kernels, gpu.Stream, source, destination);

        var expected = host.To(to);
        var actual = scratch.Download(destination);
        var (e, a) = (expected.ToFloat32Array(), actual.ToFloat32Array());
        for (var i = 0; i < values.Length; i++)
        {
            var same = float.IsNaN(e[i]) ? float.IsNaN(a[i]) : BitConverter.SingleToUInt32Bits(e[i]) == BitConverter.SingleToUInt32Bits(a[i]);
            Assert.True(same, $"{from} -> {to} of {host.ToFloat32Array()[i]:R}: GPU {a[i]:R}, host {e[i]:R} (index {i})");
        }
    }

    [Fact]
    public void Strided_copy_materialises_a_permutation_and_a_slice()
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var host = new TestData(3).Uniform(2, 3, 4, 5).To(DType.F16);
        var source = scratch.Upload(host);

        var nchw = scratch.Empty(DType.F16, 2, 5, 3, 4);
        CopyStridedKernel.Run(gpu.Kernels, gpu.Stream, source.Permute(0, 3, 1, 2), nchw);
        var slice = scratch.Empty(DType.F16, 2, 3, 2, 5);
        CopyStridedKernel.Run(gpu.Kernels, gpu.Stream, source.Slice(2, 1, 2), slice);

        Assert.Equal(host.Permute(0, 3, 1, 2).Contiguous().AsBytes().ToArray(), scratch.Download(nchw).AsBytes().ToArray());
        Assert.Equal(host.Slice(2, 1, 2).Contiguous().AsBytes().ToArray(), scratch.Download(slice).AsBytes().ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_contiguous_copy_gives_the_same_bytes_by_memcpy_and_by_kernel(bool forceKernel)
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var host = new TestData(4).Uniform(33, 77).To(DType.BF16);
        var source = scratch.Upload(host);
        var destination = scratch.Empty(DType.BF16, 33, 77);

        CopyStridedKernel.Run(gpu.Kernels, gpu.Stream, source, destination, forceKernel);

        Assert.Equal(host.AsBytes().ToArray(), scratch.Download(destination).AsBytes().ToArray());
    }

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
            FillKernel.Run(gpu.Kernels, stream, a, 0.1f);
            CastKernel.Run(gpu.Kernels, stream, a, b);
            CopyStridedKernel.Run(gpu.Kernels, stream, b.Permute(1, 0), c);
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
}
