using CudaI2V.Kernels;
using CudaI2V.Kernels.Cuda;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda;

/// <summary>
/// Every branch of the Im2col, GemmEpilogue and Softmax launchers, planned against fake device storage: entry choice by
/// dtype and variant, grids, packed parameters (chunk offsets, absent addends as zero addresses), the no-launch cases
/// and the refusals with their messages.
/// </summary>
public sealed class GemmLauncherPlanTests
{
    private readonly FakeDevice _device = new();

    private Tensor Device(DType dtype, params int[] dims) => _device.Make(dtype, dims);

    [Theory]
    [InlineData(DType.F16, ConvWeightLayout.Packed, "im2col_hwc_f16")]
    [InlineData(DType.BF16, ConvWeightLayout.Packed, "im2col_hwc_bf16")]
    [InlineData(DType.F32, ConvWeightLayout.Packed, "im2col_hwc_f32")]
    [InlineData(DType.F16, ConvWeightLayout.Torch, "im2col_chw_f16")]
    [InlineData(DType.BF16, ConvWeightLayout.Torch, "im2col_chw_bf16")]
    [InlineData(DType.F32, ConvWeightLayout.Torch, "im2col_chw_f32")]
    public void Im2col_picks_the_patch_order_of_the_weight_layout_and_the_dtype(DType dtype, ConvWeightLayout order, string entry)
    {
        var launch = Im2colKernel.Plan(Device(dtype, 1, 4, 4, 2), Device(dtype, 16, 18), 3, 3, 1, Padding2D.All(1), order, 0)!.Value;
        Assert.Equal(entry, launch.Entry);
    }

    [Theory]
    [InlineData(DType.F16, 16, "im2col_hwcv_f16", 9 * 2)]  // 8 elements per 16 bytes: 2 vectors per tap
    [InlineData(DType.BF16, 8, "im2col_hwcv_bf16", 9 * 1)]
    [InlineData(DType.F32, 12, "im2col_hwcv_f32", 9 * 3)]  // 4 elements per 16 bytes
    [InlineData(DType.F16, 12, "im2col_hwc_f16", 12)]      // 12 channels are not whole 16-byte vectors in fp16
    public void Im2col_moves_16_bytes_at_a_time_when_the_channels_fill_whole_vectors(DType dtype, int channels, string entry, int threadsPerPatch)
    {
        var launch = Im2colKernel.Plan(Device(dtype, 1, 30, 30, channels), Device(dtype, 900, 9 * channels), 3, 3, 1, Padding2D.All(1), ConvWeightLayout.Packed, 0)!.Value;

        Assert.Equal(entry, launch.Entry);
        Assert.Equal(ElementwiseGrid.For(900L * threadsPerPatch).Grid, launch.Config.Grid);
    }

    [Fact]
    public void Im2col_packs_the_geometry_and_the_chunk_it_writes()
    {
        // 13x18 with a 3x3 stride-2 kernel padded (0, 1, 0, 1): Ho = (13 + 1 - 3) / 2 + 1 = 6, Wo = (18 + 1 - 3) / 2 + 1 = 9.
        var x = Device(DType.F16, 2, 13, 18, 5);
        var columns = Device(DType.F16, 10, 45);

        var launch = Im2colKernel.Plan(x, columns, 3, 3, 2, new Padding2D(0, 1, 0, 1), ConvWeightLayout.Packed, rowBegin: 98)!.Value;

        var p = launch.Params;
        Assert.Equal((x.DeviceAddress(), columns.DeviceAddress(), 98L, 10L), (p.Source, p.Destination, p.RowBegin, p.Rows));
        Assert.Equal((13, 18, 5, 3, 3, 2), (p.Height, p.Width, p.Channels, p.KernelHeight, p.KernelWidth, p.Stride));
        Assert.Equal((0, 0, 6, 9), (p.PadTop, p.PadLeft, p.OutHeight, p.OutWidth));
        Assert.Equal(new Dim3(1), launch.Config.Grid); // ceil(10 * 5 / 256): a thread per channel of a patch
    }

    [Fact]
    public void Im2col_refuses_rows_past_the_output_and_columns_of_the_wrong_width()
    {
        var x = Device(DType.F16, 2, 13, 18, 5);

        var past = Assert.Throws<ArgumentException>(() => Im2colKernel.Plan(x, Device(DType.F16, 11, 45), 3, 3, 2, new Padding2D(0, 1, 0, 1), ConvWeightLayout.Packed, 98));
        Assert.Contains("rows [98, 109) are outside the 108 output pixels", past.Message, StringComparison.Ordinal);
        var width = Assert.Throws<ArgumentException>(() => Im2colKernel.Plan(x, Device(DType.F16, 4, 44), 3, 3, 1, Padding2D.All(1), ConvWeightLayout.Torch, 0));
        Assert.Contains("[rows, 45]", width.Message, StringComparison.Ordinal);
        Assert.Contains("got F16 [4, 44]", width.Message, StringComparison.Ordinal);
        var big = Assert.Throws<ArgumentException>(() => Im2colKernel.Plan(Device(DType.F16, 1, 2, 2, 1), Device(DType.F16, 1, 9), 3, 3, 1, Padding2D.None, ConvWeightLayout.Torch, 0));
        Assert.Contains("3x3 kernel", big.Message, StringComparison.Ordinal);
        Assert.Contains("BF16", Assert.Throws<ArgumentException>(() => Im2colKernel.Plan(x, Device(DType.BF16, 4, 45), 3, 3, 1, Padding2D.All(1), ConvWeightLayout.Torch, 0)).Message, StringComparison.Ordinal);
        Assert.Null(Im2colKernel.Plan(x, Device(DType.F16, 0, 45), 3, 3, 1, Padding2D.All(1), ConvWeightLayout.Torch, 0));
    }

    [Theory]
    [InlineData(DType.F32, "gemm_epilogue_f32")]
    [InlineData(DType.F16, "gemm_epilogue_f16")]
    [InlineData(DType.BF16, "gemm_epilogue_bf16")]
    public void Epilogue_passes_every_addend_and_the_groups_of_a_chunk(DType dtype, string entry)
    {
        var (acc, dst, bias, rows, residual) = (Device(DType.F32, 30, 7), Device(dtype, 30, 7), Device(dtype, 7), Device(dtype, 4, 7), Device(dtype, 30, 7));

        var launch = GemmEpilogueKernel.Plan(acc, dst, bias, rows, residual, rowBegin: 90, groupRows: 30)!.Value;

        var p = launch.Params;
        Assert.Equal(entry, launch.Entry);
        Assert.Equal((acc.DeviceAddress(), dst.DeviceAddress(), bias.DeviceAddress(), rows.DeviceAddress(), residual.DeviceAddress()), (p.Accumulator, p.Destination, p.Bias, p.RowAdd, p.Residual));
        Assert.Equal((30L, 90L, 30L, 7), (p.Rows, p.RowBegin, p.GroupRows, p.Cols));
        Assert.Equal(new Dim3(1), launch.Config.Grid);
    }

    [Fact]
    public void Epilogue_leaves_absent_addends_at_address_zero()
    {
        var p = GemmEpilogueKernel.Plan(Device(DType.F32, 3, 5), Device(DType.F16, 3, 5), null, null, null)!.Value.Params;
        Assert.Equal((0UL, 0UL, 0UL, 1L), (p.Bias, p.RowAdd, p.Residual, p.GroupRows));
        Assert.Null(GemmEpilogueKernel.Plan(Device(DType.F32, 0, 5), Device(DType.F16, 0, 5), null, null, null));
    }

    [Fact]
    public void Epilogue_refuses_too_few_groups_and_mismatched_operands()
    {
        var (acc, dst) = (Device(DType.F32, 30, 7), Device(DType.F16, 30, 7));

        var groups = Assert.Throws<ArgumentException>(() => GemmEpilogueKernel.Plan(acc, dst, null, Device(DType.F16, 3, 7), null, rowBegin: 90, groupRows: 30));
        Assert.Contains("rows [90, 120) in groups of 30 need more than the 3 rows of rowAdd [3, 7]", groups.Message, StringComparison.Ordinal);
        var bias = Assert.Throws<ArgumentException>(() => GemmEpilogueKernel.Plan(acc, dst, Device(DType.BF16, 7), null, null));
        Assert.Contains("bias must be a contiguous F16 [7]", bias.Message, StringComparison.Ordinal);
        var accumulator = Assert.Throws<ArgumentException>(() => GemmEpilogueKernel.Plan(Device(DType.F16, 30, 7), dst, null, null, null));
        Assert.Contains("accumulator F16 [30, 7]", accumulator.Message, StringComparison.Ordinal);
        var residual = Assert.Throws<ArgumentException>(() => GemmEpilogueKernel.Plan(acc, dst, null, null, Device(DType.F16, 7, 30)));
        Assert.Contains("residual must be a contiguous F16 [30, 7]", residual.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DType.F32, "softmax_f32")]
    [InlineData(DType.F16, "softmax_f16")]
    [InlineData(DType.BF16, "softmax_bf16")]
    public void Softmax_gives_each_row_a_warp(DType dtype, string entry)
    {
        var (scores, probabilities) = (Device(DType.F32, 3, 5, 7), Device(dtype, 3, 5, 7));

        var launch = SoftmaxKernel.Plan(scores, probabilities, 0.125f)!.Value;

        Assert.Equal(entry, launch.Entry);
        Assert.Equal((scores.DeviceAddress(), probabilities.DeviceAddress(), 15L, 7, 0.125f), (launch.Params.Scores, launch.Params.Probabilities, launch.Params.Rows, launch.Params.Cols, launch.Params.Scale));
        Assert.Equal(new Dim3(2), launch.Config.Grid); // 15 rows, 8 per block of 256 threads
        Assert.Equal(new Dim3(256), launch.Config.Block);
    }

    [Fact]
    public void Softmax_caps_its_grid_and_loops_over_rows()
    {
        var launch = SoftmaxKernel.Plan(Device(DType.F32, 100_000, 4), Device(DType.F16, 100_000, 4), 1f, maxBlocks: 10)!.Value;
        Assert.Equal(new Dim3(10), launch.Config.Grid);
        Assert.Null(SoftmaxKernel.Plan(Device(DType.F32, 0, 4), Device(DType.F16, 0, 4), 1f));
    }

    [Fact]
    public void Softmax_refuses_other_shapes_half_scores_and_a_bad_scale()
    {
        var shapes = Assert.Throws<ArgumentException>(() => SoftmaxKernel.Plan(Device(DType.F32, 4, 6), Device(DType.F16, 6, 4), 1f));
        Assert.Contains("scores F32 [4, 6], probabilities F16 [6, 4]", shapes.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => SoftmaxKernel.Plan(Device(DType.F16, 4, 6), Device(DType.F16, 4, 6), 1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxKernel.Plan(Device(DType.F32, 4, 6), Device(DType.F16, 4, 6), 0f));
        Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxKernel.Plan(Device(DType.F32, 4, 6), Device(DType.F16, 4, 6), float.NaN));
    }
}
