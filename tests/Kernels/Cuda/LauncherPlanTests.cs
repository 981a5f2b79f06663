using CudaI2V.Kernels.Cuda;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda;

/// <summary>
/// Every branch of the launchers, planned against fake device storage (an address range no one allocated): entry
/// choice by dtype, grids, packed parameters, the no-launch and memcpy paths, and the refusals with their messages.
/// </summary>
public sealed class LauncherPlanTests
{
    private const ulong Base = 0x7000_0000_0000;

    private static Tensor Device(DType dtype, params int[] dims)
    {
        var shape = new TensorShape(dims);
        var storage = new DeviceStorage(Base, Math.Max(shape.ElementCount * dtype.SizeOf(), 1), () => true, "fake");
        return Tensor.View(storage, 0, dtype, shape);
    }

    [Theory]
    [InlineData(DType.F32, "fill_f32")]
    [InlineData(DType.F16, "fill_f16")]
    [InlineData(DType.BF16, "fill_bf16")]
    public void Fill_picks_the_entry_of_the_dtype_and_packs_its_parameters(DType dtype, string entry)
    {
        var launch = FillKernel.Plan(Device(dtype, 3, 1000), 2.5f)!.Value;

        Assert.Equal((entry, "Fill.cu"), (launch.Entry, launch.SourceFile));
        Assert.Equal(Base, launch.Params.Destination);
        Assert.Equal(3000, launch.Params.Count);
        Assert.Equal(2.5f, launch.Params.Value);
        Assert.Equal(new Dim3(12), launch.Config.Grid); // ceil(3000 / 256)
        Assert.Equal(new Dim3(256), launch.Config.Block);
    }

    [Fact]
    public void Large_tensors_get_a_capped_grid_that_loops()
    {
        var launch = FillKernel.Plan(Device(DType.F16, 1 << 24), 0f, maxBlocks: 64)!.Value;
        Assert.Equal(new Dim3(64), launch.Config.Grid);
        Assert.Equal(ElementwiseGrid.DefaultMaxBlocks, (int)ElementwiseGrid.For(1L << 40).Grid.X);
    }

    [Fact]
    public void An_empty_tensor_launches_nothing()
    {
        Assert.Null(FillKernel.Plan(Device(DType.F32, 0, 7), 1f));
        Assert.Equal(new LaunchOrMemcpy<CastParams>(null, null), CastKernel.Plan(Device(DType.F32, 0), Device(DType.F16, 0)));
        Assert.Equal(new LaunchOrMemcpy<CopyStridedParams>(null, null), CopyStridedKernel.Plan(Device(DType.F16, 4, 0), Device(DType.F16, 4, 0)));
    }

    [Fact]
    public void Launchers_refuse_host_tensors_strided_views_and_other_dtypes()
    {
        Assert.Contains("host memory", Assert.Throws<ArgumentException>(() => FillKernel.Plan(Tensor.Zeros(DType.F32, new TensorShape(4)), 0f)).Message, StringComparison.Ordinal);
        Assert.Contains("contiguous", Assert.Throws<ArgumentException>(() => FillKernel.Plan(Device(DType.F32, 4, 4).Permute(1, 0), 0f)).Message, StringComparison.Ordinal);
        Assert.Contains("I64", Assert.Throws<ArgumentException>(() => FillKernel.Plan(Device(DType.I64, 4), 0f)).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DType.F32, DType.F16, "cast_f32_f16")]
    [InlineData(DType.F32, DType.BF16, "cast_f32_bf16")]
    [InlineData(DType.F16, DType.F32, "cast_f16_f32")]
    [InlineData(DType.BF16, DType.F32, "cast_bf16_f32")]
    [InlineData(DType.F16, DType.BF16, "cast_f16_bf16")]
    [InlineData(DType.BF16, DType.F16, "cast_bf16_f16")]
    public void Cast_picks_the_entry_of_both_dtypes(DType from, DType to, string entry)
    {
        var source = Device(from, 5, 7);
        var destination = Tensor.View(new DeviceStorage(Base + 4096, 35 * to.SizeOf(), () => true, "fake"), 0, to, new TensorShape(5, 7));

        var plan = CastKernel.Plan(source, destination);
        var launch = plan.Launch!.Value;

        Assert.Equal((entry, CastKernel.SourceFile), (launch.Entry, launch.SourceFile));
        Assert.Equal((Base, Base + 4096, 35L), (launch.Params.Source, launch.Params.Destination, launch.Params.Count));
        Assert.Null(plan.Memcpy);
    }

    [Fact]
    public void Cast_to_the_same_dtype_is_a_copy_not_a_kernel()
    {
        var destination = Tensor.View(new DeviceStorage(Base + 4096, 16, () => true, "fake"), 0, DType.F16, new TensorShape(8));
        Assert.Equal(new LaunchOrMemcpy<CastParams>(null, new DeviceMemcpy(Base + 4096, Base, 16)), CastKernel.Plan(Device(DType.F16, 8), destination));
    }

    [Fact]
    public void Cast_shows_both_shapes_when_they_differ()
    {
        var e = Assert.Throws<ArgumentException>(() => CastKernel.Plan(Device(DType.F32, 2, 3), Device(DType.F16, 3, 2)));
        Assert.Contains("source F32 [2, 3], destination F16 [3, 2]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Collapse_merges_dimensions_contiguous_on_both_sides_and_drops_ones()
    {
        // [2, 1, 3, 4] contiguous on both sides: one dimension of 24.
        Assert.Equal([new CopyDimension(24, 1, 1)], CopyStridedKernel.Collapse(new TensorShape(2, 1, 3, 4), [12, 12, 4, 1], [12, 12, 4, 1]));

        // NHWC -> NCHW of [2, 3, 4, 5] read through a permuted view: H and W merge, N and C do not.
        var nhwc = Device(DType.F16, 2, 3, 4, 5);
        var asNchw = nhwc.Permute(0, 3, 1, 2); // shape [2, 5, 3, 4], strides [60, 1, 20, 5]
        Assert.Equal(
            [new CopyDimension(2, 60, 60), new CopyDimension(5, 1, 12), new CopyDimension(12, 5, 1)],
            CopyStridedKernel.Collapse(asNchw.Shape, asNchw.Strides, [60, 12, 4, 1]));

        Assert.Equal([new CopyDimension(1, 1, 1)], CopyStridedKernel.Collapse(new TensorShape(1, 1), [1, 1], [1, 1]));
    }

    [Fact]
    public void A_contiguous_copy_is_a_memcpy_unless_the_kernel_is_forced()
    {
        var (source, destination) = (Device(DType.BF16, 4, 6), Device(DType.BF16, 4, 6));

        Assert.Equal(new LaunchOrMemcpy<CopyStridedParams>(null, new DeviceMemcpy(Base, Base, 48)), CopyStridedKernel.Plan(source, destination));
        var forced = CopyStridedKernel.Plan(source, destination, forceKernel: true).Launch!.Value;
        Assert.Equal("copy_strided_bf16", forced.Entry);
        Assert.Equal(1, forced.Params.Rank);
        Assert.Equal(24, forced.Params.Shape[0]);
    }

    [Fact]
    public void A_strided_copy_packs_merged_shape_and_strides()
    {
        var source = Device(DType.F32, 2, 3, 4, 5).Permute(0, 3, 1, 2);
        var destination = Device(DType.F32, 2, 5, 3, 4);

        var p = CopyStridedKernel.Plan(source, destination).Launch!.Value.Params;

        Assert.Equal(3, p.Rank);
        Assert.Equal(120, p.Count);
        Assert.Equal([2L, 5, 12, 0, 0, 0], ((ReadOnlySpan<long>)p.Shape).ToArray());
        Assert.Equal([60L, 1, 5, 0, 0, 0], ((ReadOnlySpan<long>)p.SourceStrides).ToArray());
        Assert.Equal([60L, 12, 1, 0, 0, 0], ((ReadOnlySpan<long>)p.DestinationStrides).ToArray());
        Assert.Equal("copy_strided_f32", CopyStridedKernel.Plan(source, destination).Launch!.Value.Entry);
    }

    [Fact]
    public void A_copy_that_stays_above_rank_6_is_refused_with_its_shape()
    {
        // Reversing seven axes leaves nothing to merge.
        var source = Device(DType.F16, 2, 2, 2, 2, 2, 2, 2).Permute(6, 5, 4, 3, 2, 1, 0);
        var destination = Device(DType.F16, 2, 2, 2, 2, 2, 2, 2);

        var e = Assert.Throws<ArgumentException>(() => CopyStridedKernel.Plan(source, destination));
        Assert.Contains("still has 7 dimensions after merging", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Copy_shows_both_shapes_and_dtypes_when_they_differ()
    {
        var e = Assert.Throws<ArgumentException>(() => CopyStridedKernel.Plan(Device(DType.F16, 2, 3), Device(DType.BF16, 2, 3)));
        Assert.Contains("source F16 [2, 3], destination BF16 [2, 3]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_freed_allocation_cannot_be_launched_on()
    {
        var alive = true;
        var storage = new DeviceStorage(Base, 64, () => alive, "DeviceAllocation");
        var tensor = Tensor.View(storage, 0, DType.F32, new TensorShape(16));
        alive = false;

        Assert.Throws<ObjectDisposedException>(() => FillKernel.Plan(tensor, 1f));
    }
}
