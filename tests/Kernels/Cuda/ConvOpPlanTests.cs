using CudaI2V.Kernels;
using CudaI2V.Kernels.Cuda;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda;

/// <summary>
/// The convolution ops' plans without a GPU (<see cref="Im2colConv2dOp"/>, <see cref="TemporalConvAsConv2dOp"/>): the
/// direct and im2col paths (and that each can be forced), the steps and the GEMM problems they hand cuBLAS, workspace
/// arithmetic and chunk planning, the temporal convolution's view as a 2-D one, and the refusals with messages showing
/// the shapes.
/// </summary>
public sealed class ConvOpPlanTests
{
    private readonly FakeDevice _device = new();

    private Tensor Device(DType dtype, params int[] dims) => _device.Make(dtype, dims);

    private Tensor Workspace(long bytes) => Device(DType.U8, (int)bytes);

    [Fact]
    public void A_pointwise_conv_multiplies_x_itself_unless_im2col_is_forced()
    {
        var (x, w, y) = (Device(DType.F16, 2, 7, 9, 9), Device(DType.F16, 5, 9, 1, 1), Device(DType.F16, 2, 7, 9, 5));
        var args = new Conv2dArgs(x, w, ConvWeightLayout.Torch, null, 1, Padding2D.None, null, null, y);
        var shape = new Conv2dShape(2, 7, 9, 9, 5, 1, 1, 1, Padding2D.None, DType.F16);
        var direct = new Im2colConv2dOp(maxChunkRows: 50);

        var plan = direct.Plan(args, Workspace(direct.WorkspaceBytes(shape)));
        var steps = plan.Steps.ToList();

        Assert.False(plan.Im2col);
        Assert.Equal(50 * 5 * 4, direct.WorkspaceBytes(shape)); // the fp32 result only
        Assert.Equal(3, plan.Chunks); // 126 rows
        Assert.Equal(6, steps.Count);
        var second = Assert.IsType<GemmStep>(steps[2]);
        Assert.Equal(x.DeviceAddress() + (50 * 9 * 2), second.A.DeviceAddress()); // rows 50.. of x as [M, Cin]
        Assert.Equal((50, 5, 9, 1), (second.Problem.M, second.Problem.N, second.Problem.K, second.Problem.Batch));
        var last = Assert.IsType<LaunchStep<GemmEpilogueParams>>(steps[5]).Launch.Params;
        Assert.Equal((26L, 100L, 63L), (last.Rows, last.RowBegin, last.GroupRows));
        Assert.Equal(y.DeviceAddress() + (100 * 5 * 2), last.Destination);

        var forced = new Im2colConv2dOp(forceIm2col: true);
        var forcedPlan = forced.Plan(args, Workspace(forced.WorkspaceBytes(shape)));
        Assert.True(forcedPlan.Im2col);
        Assert.IsType<LaunchStep<Im2colParams>>(forcedPlan.Steps.First());
    }

    [Fact]
    public void A_3x3_conv_runs_im2col_gemm_and_epilogue_per_chunk()
    {
        var (x, w, b, t, r, y) = (Device(DType.F16, 2, 13, 18, 5), Device(DType.F16, 7, 3, 3, 5), Device(DType.F16, 7), Device(DType.F16, 2, 7), Device(DType.F16, 2, 13, 18, 7), Device(DType.F16, 2, 13, 18, 7));
        var args = new Conv2dArgs(x, w, ConvWeightLayout.Packed, b, 1, Padding2D.All(1), t, r, y);
        var op = new Im2colConv2dOp(maxChunkRows: 17);
        var workspace = Workspace(op.WorkspaceBytes(new Conv2dShape(2, 13, 18, 5, 7, 3, 3, 1, Padding2D.All(1), DType.F16)));

        var plan = op.Plan(args, workspace);
        var steps = plan.Steps.ToList();

        Assert.Equal(28, plan.Chunks); // 468 output pixels in chunks of 17
        Assert.Equal(3 * 28, steps.Count);
        var gather = Assert.IsType<LaunchStep<Im2colParams>>(steps[^3]).Launch;
        Assert.Equal("im2col_hwc_f16", gather.Entry);
        Assert.Equal((459L, 9L), (gather.Params.RowBegin, gather.Params.Rows));
        var gemm = Assert.IsType<GemmStep>(steps[^2]);
        Assert.Equal(GemmEngine.Cublas, gemm.Engine);
        Assert.Equal((9, 7, 45, true), (gemm.Problem.M, gemm.Problem.N, gemm.Problem.K, gemm.TransposeB));
        Assert.Equal((45L, 45L, 7L), (gemm.Problem.A.LeadingDimension, gemm.Problem.B.LeadingDimension, gemm.Problem.C.LeadingDimension));
        Assert.Equal(DType.F32, gemm.C.DType);
        Assert.Equal(workspace.DeviceAddress() + 1536, gemm.C.DeviceAddress()); // after the patches, align256(17 * 45 * 2)
        Assert.Equal(workspace.DeviceAddress(), gemm.A.DeviceAddress());
    }

    [Fact]
    public void An_fp32_conv_gathers_and_finishes_with_the_f32_entries_and_sizes_patches_at_4_bytes()
    {
        var (x, w, b, y) = (Device(DType.F32, 2, 13, 18, 5), Device(DType.F32, 7, 5, 3, 3), Device(DType.F32, 7), Device(DType.F32, 2, 13, 18, 7));
        var args = new Conv2dArgs(x, w, ConvWeightLayout.Torch, b, 1, Padding2D.All(1), null, null, y);
        var shape = new Conv2dShape(2, 13, 18, 5, 7, 3, 3, 1, Padding2D.All(1), DType.F32);
        var op = new Im2colConv2dOp(maxChunkRows: 17);

        Assert.Equal(OpArgumentsAlign(17 * 45 * 4) + (17 * 7 * 4), op.WorkspaceBytes(shape));
        Assert.Equal(OpArgumentsAlign(45 * 4) + 28, op.MinimumWorkspaceBytes(shape));
        var workspace = Workspace(op.WorkspaceBytes(shape));
        var plan = op.Plan(args, workspace);
        var steps = plan.Steps.ToList();

        Assert.Equal(DType.F32, plan.Shape.DType);
        Assert.Equal("im2col_chw_f32", Assert.IsType<LaunchStep<Im2colParams>>(steps[^3]).Launch.Entry);
        var gemm = Assert.IsType<GemmStep>(steps[^2]);
        Assert.Equal((DType.F32, DType.F32, DType.F32), (gemm.Problem.A.DType, gemm.Problem.B.DType, gemm.Problem.C.DType));
        Assert.Equal(workspace.DeviceAddress() + 3072, gemm.C.DeviceAddress()); // after the patches, align256(17 * 45 * 4)
        var epilogue = Assert.IsType<LaunchStep<GemmEpilogueParams>>(steps[^1]).Launch;
        Assert.Equal("gemm_epilogue_f32", epilogue.Entry);
        Assert.Equal(y.DeviceAddress() + (459 * 7 * 4), epilogue.Params.Destination);

        // A workspace sized for fp16 patches holds fewer fp32 rows, never too many.
        var half = shape with { DType = DType.F16 };
        var budget = op.WorkspaceBytes(half);
        var rows = op.ChunkRowsFor(shape, budget);
        Assert.True(rows < 17 && op.BytesFor(shape, rows) <= budget && op.BytesFor(shape, rows + 1) > budget, $"{rows} rows for {budget} bytes");
    }

    [Fact]
    public void Conv_workspace_is_the_aligned_patches_plus_the_fp32_result_and_any_size_from_one_row_up_works()
    {
        var op = new Im2colConv2dOp();
        var shape = new Conv2dShape(2, 13, 18, 5, 7, 3, 3, 1, Padding2D.All(1), DType.F16);

        Assert.Equal(468, shape.Rows);
        Assert.Equal(45, shape.PatchLength);
        Assert.Equal(OpArgumentsAlign(468 * 45 * 2) + (468 * 7 * 4), op.WorkspaceBytes(shape));
        Assert.Equal(256 + 28, op.MinimumWorkspaceBytes(shape));
        for (long budget = 0; budget < 4000; budget += 7)
        {
            var rows = op.ChunkRowsFor(shape, budget);
            Assert.True(rows == 0 || op.BytesFor(shape, rows) <= budget, $"{rows} rows do not fit {budget} bytes");
            Assert.True(rows == 468 || op.BytesFor(shape, rows + 1) > budget, $"{rows + 1} rows would fit {budget} bytes");
        }
    }

    [Fact]
    public void Conv_refuses_what_does_not_fit_with_the_shapes()
    {
        var op = new Im2colConv2dOp();
        var x = Device(DType.F16, 2, 13, 18, 5);
        var w = Device(DType.F16, 7, 5, 3, 3);
        var y = Device(DType.F16, 2, 13, 18, 7);
        Conv2dArgs Args(Tensor? output = null, Tensor? weight = null, ConvWeightLayout layout = ConvWeightLayout.Torch, Tensor? residual = null, Tensor? input = null) =>
            new(input ?? x, weight ?? w, layout, null, 1, Padding2D.All(1), null, residual, output ?? y);
        string Message(Conv2dArgs args, long workspace = 1 << 20) => Assert.Throws<ArgumentException>(() => op.Plan(args, Workspace(workspace))).Message;

        Assert.Contains("one output pixel needs 284", Message(Args(), workspace: 283), StringComparison.Ordinal);
        Assert.Contains("output must be [2, 13, 18, 7] for x [2, 13, 18, 5] and weight [7, 5, 3, 3], got [2, 13, 18, 6]", Message(Args(output: Device(DType.F16, 2, 13, 18, 6))), StringComparison.Ordinal);
        Assert.Contains("packed weight [7, 3, 3, 4] ([Cout, kh, kw, Cin]) expects 4 input channels but x [2, 13, 18, 5] has 5", Message(Args(weight: Device(DType.F16, 7, 3, 3, 4), layout: ConvWeightLayout.Packed)), StringComparison.Ordinal);
        Assert.Contains("weight [7, 4, 3, 3] expects 4 input channels", Message(Args(weight: Device(DType.F16, 7, 4, 3, 3))), StringComparison.Ordinal);
        Assert.Contains("takes F16, BF16 or F32 tensors (the GEMMs' inputs), got I32 [2, 13, 18, 5]", Message(Args(input: Device(DType.I32, 2, 13, 18, 5))), StringComparison.Ordinal);
        Assert.Contains("weight must be a contiguous F32 device tensor, got F16", Message(Args(input: Device(DType.F32, 2, 13, 18, 5))), StringComparison.Ordinal);
        Assert.Contains("weight must be a contiguous F16 device tensor, got BF16", Message(Args(weight: Device(DType.BF16, 7, 5, 3, 3))), StringComparison.Ordinal);
        Assert.Contains("host memory", Message(Args(input: Tensor.Zeros(DType.F16, new TensorShape(2, 13, 18, 5)))), StringComparison.Ordinal);

        var shared = Device(DType.U8, 100_000);
        var (early, late) = (Tensor.View(shared.Storage, 0, DType.F16, x.Shape), Tensor.View(shared.Storage, 1000, DType.F16, y.Shape));
        Assert.Contains("the output [2, 13, 18, 7] overlaps x [2, 13, 18, 5]", Message(Args(input: early, output: late)), StringComparison.Ordinal);
        var shifted = Tensor.View(new DeviceStorage(y.DeviceAddress() + 2, y.ByteLength, () => true, "fake"), 0, DType.F16, y.Shape);
        Assert.Contains("overlaps residual", Message(Args(residual: shifted)), StringComparison.Ordinal);
        Assert.Empty(op.Plan(Args(residual: y), Workspace(1 << 20)).Steps.OfType<CopyStep>()); // the output itself is a fine residual
    }

    [Fact]
    public void An_empty_batch_plans_no_step()
    {
        var op = new Im2colConv2dOp();
        var plan = op.Plan(new Conv2dArgs(Device(DType.F16, 0, 4, 4, 3), Device(DType.F16, 2, 3, 3, 3), ConvWeightLayout.Torch, null, 1, Padding2D.All(1), null, null, Device(DType.F16, 0, 4, 4, 2)), Workspace(1));
        Assert.Empty(plan.Steps);
    }

    [Theory]
    [InlineData(ConvWeightLayout.Torch)]
    [InlineData(ConvWeightLayout.Packed)]
    public void A_temporal_conv_is_a_kt_by_1_conv_over_each_video(ConvWeightLayout layout)
    {
        var x = Device(DType.F16, 10, 3, 4, 5); // 2 videos of 5 frames of 3x4
        var w = layout == ConvWeightLayout.Packed ? Device(DType.F16, 7, 3, 5) : Device(DType.F16, 7, 5, 3, 1, 1);
        var (r, y) = (Device(DType.F16, 10, 3, 4, 7), Device(DType.F16, 10, 3, 4, 7));

        var conv = TemporalConvAsConv2dOp.AsConv2d(new TemporalConvArgs(x, 5, w, layout, null, r, y));

        Assert.Equal(new TensorShape(2, 5, 12, 5), conv.X.Shape);
        Assert.Equal(layout == ConvWeightLayout.Packed ? new TensorShape(7, 3, 1, 5) : new TensorShape(7, 5, 3, 1), conv.Weight.Shape);
        Assert.Equal((1, new Padding2D(1, 1, 0, 0), layout), (conv.Stride, conv.Padding, conv.WeightLayout));
        Assert.Equal((new TensorShape(2, 5, 12, 7), new TensorShape(2, 5, 12, 7)), (conv.Residual!.Shape, conv.Output.Shape));
        Assert.Equal((x.DeviceAddress(), w.DeviceAddress(), y.DeviceAddress()), (conv.X.DeviceAddress(), conv.Weight.DeviceAddress(), conv.Output.DeviceAddress()));

        var shape = new TemporalConvShape(10, 5, 3, 4, 5, 7, 3, DType.F16);
        Assert.Equal(new Conv2dShape(2, 5, 12, 5, 7, 3, 1, 1, new Padding2D(1, 1, 0, 0), DType.F16), shape.AsConv2d());
        var op = new TemporalConvAsConv2dOp(new Im2colConv2dOp());
        Assert.Equal(new Im2colConv2dOp().WorkspaceBytes(shape.AsConv2d()), op.WorkspaceBytes(shape));
        Assert.Equal("temporal-as-im2col-cublas", op.Name);
    }

    [Theory]
    [InlineData(320)]
    [InlineData(640)]
    [InlineData(1280)]
    public void Every_release_temporal_conv_gathers_16_bytes_at_a_time_from_its_packed_filter(int channels)
    {
        // The release UNet's temporal convolutions (kt = 3 over 16 frames) at each of its channel counts, with the
        // filter as CudaOps.UploadConvWeight leaves it: packed [Cout, kt, Cin], addressed as [Cout, Cin, kt, 1, 1].
        var packed = Device(DType.F16, channels, 3, channels);
        var view = ConvWeights.TorchOrderView(packed);
        Assert.Equal(new TensorShape(channels, channels, 3, 1, 1), view.Shape);
        Assert.True(ConvWeights.IsPackedView(view));
        var filter = ConvWeights.PackedFilter(view);
        Assert.Equal((packed.Shape, packed.DeviceAddress()), (filter.Shape, filter.DeviceAddress()));

        var (x, y) = (Device(DType.F16, 32, 4, 6, channels), Device(DType.F16, 32, 4, 6, channels));
        var op = new TemporalConvAsConv2dOp(new Im2colConv2dOp());
        var shape = new TemporalConvShape(32, 16, 4, 6, channels, channels, 3, DType.F16);
        var conv = new Im2colConv2dOp();
        var plan = conv.Plan(TemporalConvAsConv2dOp.AsConv2d(new TemporalConvArgs(x, 16, filter, ConvWeightLayout.Packed, null, x, y)), Workspace(op.WorkspaceBytes(shape)));

        var gathers = plan.Steps.OfType<LaunchStep<Im2colParams>>().Select(s => s.Launch.Entry).Distinct().ToList();
        Assert.Equal(["im2col_hwcv_f16"], gathers);
    }

    [Fact]
    public void A_temporal_conv_refuses_partial_videos_and_wrong_filters()
    {
        var (x, y) = (Device(DType.F16, 10, 3, 4, 5), Device(DType.F16, 10, 3, 4, 7));
        string Message(TemporalConvArgs args) => Assert.Throws<ArgumentException>(() => TemporalConvAsConv2dOp.AsConv2d(args)).Message;

        Assert.Contains("10 images of x [10, 3, 4, 5] are not a whole number of videos of 4 frames", Message(new(x, 4, Device(DType.F16, 7, 5, 3, 1, 1), ConvWeightLayout.Torch, null, null, y)), StringComparison.Ordinal);
        Assert.Contains("packed weight [7, 2, 5] must be [Cout, kt, 5] with kt odd", Message(new(x, 5, Device(DType.F16, 7, 2, 5), ConvWeightLayout.Packed, null, null, y)), StringComparison.Ordinal);
        Assert.Contains("weight must be [Cout, kt, Cin] (packed), got [7, 5, 3, 1, 1]", Message(new(x, 5, Device(DType.F16, 7, 5, 3, 1, 1), ConvWeightLayout.Packed, null, null, y)), StringComparison.Ordinal);
        Assert.Contains("output must be [10, 3, 4, 7]", Message(new(x, 5, Device(DType.F16, 7, 5, 3, 1, 1), ConvWeightLayout.Torch, null, null, Device(DType.F16, 10, 3, 4, 6))), StringComparison.Ordinal);
    }

    private static long OpArgumentsAlign(long bytes) => (bytes + 255) / 256 * 256;
}
