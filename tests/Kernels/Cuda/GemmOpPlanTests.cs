using CudaI2V.Kernels;
using CudaI2V.Kernels.Cuda;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda;

/// <summary>
/// The op implementations' plans without a GPU: which path each takes (and that every path can be forced), the steps
/// and the GEMM problems they hand cuBLAS (leading dimensions, batch strides, head offsets), workspace arithmetic and
/// chunk planning, and the refusals with messages showing the shapes.
/// </summary>
public sealed class GemmOpPlanTests
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

    [Fact]
    public void Linear_fuses_bias_and_residual_into_one_cublaslt_gemm_when_aligned()
    {
        var (x, w, b, r, y) = (Device(DType.F16, 2, 13, 40), Device(DType.F16, 24, 40), Device(DType.F16, 24), Device(DType.F16, 2, 13, 24), Device(DType.F16, 2, 13, 24));
        var op = new BlasLinearOp();

        var plan = op.Plan(new LinearArgs(x, w, b, r, y), Workspace(1));
        var steps = plan.Steps.ToList();

        Assert.True(plan.Fused);
        var copy = Assert.IsType<CopyStep>(steps[0]);
        Assert.Equal((r.DeviceAddress(), y.DeviceAddress(), 26L * 24 * 2), (copy.Source.DeviceAddress(), copy.Destination.DeviceAddress(), copy.Source.ByteLength));
        var gemm = Assert.IsType<GemmStep>(steps[1]);
        Assert.Equal((GemmEngine.CublasLt, 1f, true), (gemm.Engine, gemm.Beta, gemm.TransposeB));
        Assert.Same(b, gemm.Bias);
        Assert.Equal((26, 24, 40), (gemm.Problem.M, gemm.Problem.N, gemm.Problem.K));

        var inPlace = op.Plan(new LinearArgs(x, w, b, y, y), Workspace(1)).Steps.ToList();
        Assert.Equal(1f, Assert.IsType<GemmStep>(Assert.Single(inPlace)).Beta);
        var plain = op.Plan(new LinearArgs(x, w, null, null, y), Workspace(1)).Steps.ToList();
        Assert.Equal(0f, Assert.IsType<GemmStep>(Assert.Single(plain)).Beta);
        Assert.Equal(0, new BlasLinearOp(LinearPath.Fused).WorkspaceBytes(new LinearShape(26, 37, 29, DType.F16)));
    }

    [Fact]
    public void Linear_falls_back_to_cublas_and_the_epilogue_for_a_misaligned_operand_and_can_be_forced_either_way()
    {
        var storage = new DeviceStorage(0x7F00_0000_0000, 4096, () => true, "fake");
        var x = Tensor.View(storage, 2, DType.F16, new TensorShape(26, 37)); // 2 bytes past an aligned address
        var (w, b, r, y) = (Device(DType.F16, 29, 37), Device(DType.F16, 29), Device(DType.F16, 26, 29), Device(DType.F16, 26, 29));
        var args = new LinearArgs(x, w, b, r, y);
        var shape = new LinearShape(26, 37, 29, DType.F16);
        var auto = new BlasLinearOp(maxChunkRows: 10);

        Assert.False(BlasLinearOp.CanFuse(args));
        var plan = auto.Plan(args, Workspace(auto.WorkspaceBytes(shape)));
        var steps = plan.Steps.ToList();
        Assert.False(plan.Fused);
        Assert.Equal(10 * 29 * 4, auto.WorkspaceBytes(shape));
        Assert.Equal(29 * 4, auto.MinimumWorkspaceBytes(shape));
        Assert.Equal(6, steps.Count); // 3 chunks of GEMM + epilogue
        Assert.All(steps.OfType<GemmStep>(), g => Assert.Equal((GemmEngine.Cublas, DType.F32), (g.Engine, g.C.DType)));
        var last = Assert.IsType<LaunchStep<GemmEpilogueParams>>(steps[5]).Launch.Params;
        Assert.Equal((6L, 20L, r.DeviceAddress() + (20 * 29 * 2)), (last.Rows, last.RowBegin, last.Residual));

        var fused = Assert.Throws<ArgumentException>(() => new BlasLinearOp(LinearPath.Fused).Plan(args, Workspace(1)));
        Assert.Contains("256-byte aligned", fused.Message, StringComparison.Ordinal);
        Assert.False(new BlasLinearOp(LinearPath.Unfused).Plan(new LinearArgs(Device(DType.F16, 26, 37), w, b, r, y), Workspace(10_000)).Fused);
        Assert.False(BlasLinearOp.CanFuse(new LinearArgs(Device(DType.F16, 26, 37), w, b, r, y))); // aligned, but rows 74 bytes apart
        Assert.True(BlasLinearOp.CanFuse(new LinearArgs(Device(DType.F16, 26, 40), Device(DType.F16, 24, 40), null, null, Device(DType.F16, 26, 24))));
        var small = Assert.Throws<ArgumentException>(() => auto.Plan(args, Workspace(100)));
        Assert.Contains("one row needs 116", small.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_fp32_linear_fuses_at_16_byte_rows_and_otherwise_finishes_with_the_f32_epilogue()
    {
        var (x, w, b, r, y) = (Device(DType.F32, 2, 13, 40), Device(DType.F32, 24, 40), Device(DType.F32, 24), Device(DType.F32, 2, 13, 24), Device(DType.F32, 2, 13, 24));
        var fused = new BlasLinearOp().Plan(new LinearArgs(x, w, b, r, y), Workspace(1));
        var steps = fused.Steps.ToList();

        Assert.True(fused.Fused);
        Assert.Equal(26L * 24 * 4, Assert.IsType<CopyStep>(steps[0]).Source.ByteLength);
        var gemm = Assert.IsType<GemmStep>(steps[1]);
        Assert.Equal((GemmEngine.CublasLt, DType.F32, DType.F32), (gemm.Engine, gemm.Problem.A.DType, gemm.Problem.C.DType));
        Assert.Same(b, gemm.Bias);

        // 6 fp32 features are 24 bytes a row: not a multiple of 16, so the unfused path (12 bytes in fp16 would not fuse either).
        var (x6, w6, y6) = (Device(DType.F32, 5, 6), Device(DType.F32, 8, 6), Device(DType.F32, 5, 8));
        Assert.False(BlasLinearOp.CanFuse(new LinearArgs(x6, w6, null, null, y6)));
        Assert.True(BlasLinearOp.CanFuse(new LinearArgs(Device(DType.F32, 5, 8), Device(DType.F32, 8, 8), null, null, y6)));
        var op = new BlasLinearOp(maxChunkRows: 2);
        var unfused = op.Plan(new LinearArgs(x6, w6, null, null, y6), Workspace(op.WorkspaceBytes(new LinearShape(5, 6, 8, DType.F32))));
        Assert.False(unfused.Fused);
        var epilogue = Assert.IsType<LaunchStep<GemmEpilogueParams>>(unfused.Steps.ToList()[^1]).Launch;
        Assert.Equal("gemm_epilogue_f32", epilogue.Entry);
        Assert.Equal((1L, 4L, y6.DeviceAddress() + (4 * 8 * 4)), (epilogue.Params.Rows, epilogue.Params.RowBegin, epilogue.Params.Destination));
    }

    [Fact]
    public void Linear_refuses_mismatched_features_and_outputs_that_overlap_inputs()
    {
        var (x, w, y) = (Device(DType.F16, 4, 16), Device(DType.F16, 8, 16), Device(DType.F16, 4, 8));
        var op = new BlasLinearOp();
        string Message(LinearArgs args) => Assert.Throws<ArgumentException>(() => op.Plan(args, Workspace(1 << 12))).Message;

        Assert.Contains("x [4, 15] must end in 16 features to match weight [8, 16]", Message(new(Device(DType.F16, 4, 15), w, null, null, y)), StringComparison.Ordinal);
        Assert.Contains("output must be [4, 8]", Message(new(x, w, null, null, Device(DType.F16, 4, 9))), StringComparison.Ordinal);
        Assert.Contains("overlaps weight", Message(new(x, w, null, null, Tensor.View(w.Storage, 0, DType.F16, new TensorShape(4, 8)))), StringComparison.Ordinal);
        Assert.Contains("bias must be [8], got [16]", Message(new(x, w, Device(DType.F16, 16), null, y)), StringComparison.Ordinal);
    }

    [Fact]
    public void Attention_reads_each_head_in_place_with_strided_batched_gemms()
    {
        // B = 3, Lq = 21, Lk = 19, two heads of 64: channels 128.
        var (q, k, v, o) = (Device(DType.F16, 3, 21, 128), Device(DType.F16, 3, 19, 128), Device(DType.F16, 3, 19, 128), Device(DType.F16, 3, 21, 128));
        var op = new GemmSoftmaxAttentionOp(maxImagesPerChunk: 2, maxQueriesPerChunk: 5);
        var shape = new AttentionShape(3, 21, 19, 2, 64, DType.F16);
        var workspace = Workspace(op.WorkspaceBytes(shape));

        var plan = op.Plan(new AttentionArgs(q, k, v, 2, o), workspace);
        var steps = plan.Steps.ToList();

        Assert.Equal(new AttentionChunking(2, 5), plan.Chunking);
        Assert.Equal(2 * 2 * 5 * 3, steps.Count); // heads x sequence groups x query blocks x (GEMM, softmax, GEMM)
        // Rounds run sequence groups outer, query blocks inner, 10 per head: round 11 is head 1, sequences 0-1, queries 5-9.
        var round = 11;
        var scores = Assert.IsType<GemmStep>(steps[3 * round]);
        Assert.Equal(q.DeviceAddress() + (ulong)((((0 * 21) + 5) * 128) + 64) * 2, scores.A.DeviceAddress());
        Assert.Equal(k.DeviceAddress() + (64 * 2), scores.B.DeviceAddress());
        var s = scores.Problem;
        Assert.Equal((5, 19, 64, 2, true), (s.M, s.N, s.K, s.Batch, s.TransposeB));
        Assert.Equal((128L, 21L * 128), (s.A.LeadingDimension, s.A.BatchStride));
        Assert.Equal((128L, 19L * 128), (s.B.LeadingDimension, s.B.BatchStride));
        Assert.Equal((DType.F32, 19L, 5L * 19), (s.C.DType, s.C.LeadingDimension, s.C.BatchStride));

        var softmax = Assert.IsType<LaunchStep<SoftmaxParams>>(steps[(3 * round) + 1]).Launch;
        Assert.Equal(("softmax_f16", 10L, 19, 0.125f), (softmax.Entry, softmax.Params.Rows, softmax.Params.Cols, softmax.Params.Scale));
        Assert.Equal(workspace.DeviceAddress() + 768, softmax.Params.Probabilities); // after the scores, align256(10 * 19 * 4)

        var values = Assert.IsType<GemmStep>(steps[(3 * round) + 2]);
        Assert.Equal(o.DeviceAddress() + (ulong)((5 * 128) + 64) * 2, values.C.DeviceAddress());
        Assert.Equal(v.DeviceAddress() + (64 * 2), values.B.DeviceAddress());
        var pv = values.Problem;
        Assert.Equal((5, 64, 19, 2, false), (pv.M, pv.N, pv.K, pv.Batch, pv.TransposeB));
        Assert.Equal((19L, 5L * 19), (pv.A.LeadingDimension, pv.A.BatchStride));
        Assert.Equal((128L, 19L * 128), (pv.B.LeadingDimension, pv.B.BatchStride));
        Assert.Equal((128L, 21L * 128), (pv.C.LeadingDimension, pv.C.BatchStride));

        var lastScores = Assert.IsType<GemmStep>(steps[^3]).Problem; // head 1, sequence 2 alone, query 20 alone
        Assert.Equal((1, 19, 1), (lastScores.M, lastScores.N, lastScores.Batch));
    }

    [Fact]
    public void Attention_chunks_over_sequences_then_queries_to_fit_the_workspace()
    {
        var op = new GemmSoftmaxAttentionOp();
        var shape = new AttentionShape(32, 4096, 4096, 5, 64, DType.F16); // level 1 at 512x512, 16 frames, CFG
        var perSequence = 4096L * 4096 * 6;

        Assert.Equal(32 * perSequence, op.WorkspaceBytes(shape)); // 3.2 GB for one head at once: what chunking avoids
        Assert.Equal(new AttentionChunking(2, 4096), op.ChunkingFor(shape, 256L << 20));
        var row = (4096 * 4) + (4096 * 2);
        var chunking = op.ChunkingFor(shape, 64L << 20);
        Assert.Equal(1, chunking.Images);
        Assert.True(GemmSoftmaxAttentionOp.BytesFor(shape, 1, chunking.Queries) <= 64L << 20);
        Assert.True(GemmSoftmaxAttentionOp.BytesFor(shape, 1, chunking.Queries + 1) > 64L << 20);
        Assert.InRange(chunking.Queries, ((64 << 20) / row) - 1, (64 << 20) / row);
        Assert.Equal(default, op.ChunkingFor(shape, row - 1));
        Assert.Equal(GemmSoftmaxAttentionOp.BytesFor(shape, 1, 1), op.MinimumWorkspaceBytes(shape));

        // Temporal attention: 2 x 4096 pixel-sequences of 16 frames, all in one round per head.
        var temporal = new AttentionShape(8192, 16, 16, 5, 64, DType.F16);
        Assert.Equal(new AttentionChunking(8192, 16), op.ChunkingFor(temporal, op.WorkspaceBytes(temporal)));
        Assert.Equal(GemmSoftmaxAttentionOp.DefaultMaxImages, op.ChunkingFor(new AttentionShape(100_000, 16, 16, 5, 64, DType.F16), long.MaxValue / 4).Images);
    }

    [Fact]
    public void An_fp32_attention_keeps_probabilities_in_fp32_and_sizes_them_at_4_bytes()
    {
        var (q, k, v, o) = (Device(DType.F32, 3, 21, 128), Device(DType.F32, 3, 19, 128), Device(DType.F32, 3, 19, 128), Device(DType.F32, 3, 21, 128));
        var op = new GemmSoftmaxAttentionOp(maxImagesPerChunk: 2, maxQueriesPerChunk: 5);
        var shape = new AttentionShape(3, 21, 19, 2, 64, DType.F32);
        Assert.Equal(OpArgumentsAlign(10 * 19 * 4) + (10 * 19 * 4), op.WorkspaceBytes(shape));
        var workspace = Workspace(op.WorkspaceBytes(shape));

        var steps = op.Plan(new AttentionArgs(q, k, v, 2, o), workspace).Steps.ToList();

        var round = 11; // head 1, sequences 0-1, queries 5-9
        var scores = Assert.IsType<GemmStep>(steps[3 * round]);
        Assert.Equal(q.DeviceAddress() + (ulong)((((0 * 21) + 5) * 128) + 64) * 4, scores.A.DeviceAddress());
        var softmax = Assert.IsType<LaunchStep<SoftmaxParams>>(steps[(3 * round) + 1]).Launch;
        Assert.Equal("softmax_f32", softmax.Entry);
        Assert.Equal(workspace.DeviceAddress() + 768, softmax.Params.Probabilities);
        var values = Assert.IsType<GemmStep>(steps[(3 * round) + 2]);
        Assert.Equal((DType.F32, DType.F32, DType.F32), (values.Problem.A.DType, values.Problem.B.DType, values.Problem.C.DType));
        Assert.Equal(o.DeviceAddress() + (ulong)((5 * 128) + 64) * 4, values.C.DeviceAddress());

        // Level 1 at 512x512 in fp32: 8 bytes of workspace per score (fp32 scores and fp32 probabilities), not 6.
        var large = new AttentionShape(32, 4096, 4096, 5, 64, DType.F32);
        var row = 4096 * 8;
        var chunking = new GemmSoftmaxAttentionOp().ChunkingFor(large, 64L << 20);
        Assert.Equal(1, chunking.Images);
        Assert.InRange(chunking.Queries, ((64 << 20) / row) - 1, (64 << 20) / row);
        Assert.True(GemmSoftmaxAttentionOp.BytesFor(large, 1, chunking.Queries) <= 64L << 20);
    }

    [Fact]
    public void Attention_refuses_heads_that_do_not_divide_overlaps_and_a_workspace_too_small()
    {
        var (q, k, v, o) = (Device(DType.F16, 2, 5, 12), Device(DType.F16, 2, 7, 12), Device(DType.F16, 2, 7, 12), Device(DType.F16, 2, 5, 12));
        var op = new GemmSoftmaxAttentionOp();
        string Message(AttentionArgs args, long workspace = 1 << 16) => Assert.Throws<ArgumentException>(() => op.Plan(args, Workspace(workspace))).Message;

        Assert.Contains("12 channels of q [2, 5, 12] do not split into 5 heads", Message(new(q, k, v, 5, o)), StringComparison.Ordinal);
        Assert.Contains("overlaps k", Message(new(q, k, v, 3, Tensor.View(k.Storage, 0, DType.F16, new TensorShape(2, 5, 12)))), StringComparison.Ordinal);
        Assert.Contains("output must be [2, 5, 12] like q, got [2, 5, 8]", Message(new(q, k, v, 3, Device(DType.F16, 2, 5, 8))), StringComparison.Ordinal);
        Assert.Contains("one query row of scores needs 270", Message(new(q, k, v, 3, o), workspace: 269), StringComparison.Ordinal);
        Assert.Empty(op.Plan(new AttentionArgs(Device(DType.F16, 0, 5, 12), Device(DType.F16, 0, 7, 12), Device(DType.F16, 0, 7, 12), 3, Device(DType.F16, 0, 5, 12)), Workspace(1)).Steps);
    }

    [Fact]
    public void The_reference_set_names_its_implementations()
    {
        var set = GemmOpSet.Reference();
        Assert.Equal(("im2col-cublas", "temporal-as-im2col-cublas", "cublas-linear", "gemm-softmax-gemm"), (set.Conv2d.Name, set.TemporalConv.Name, set.Linear.Name, set.Attention.Name));
        Assert.Equal(("cublaslt-fused", "cublas-epilogue"), (new BlasLinearOp(LinearPath.Fused).Name, new BlasLinearOp(LinearPath.Unfused).Name));
    }

    [Fact]
    public void Pack_shapes_and_host_packing_follow_the_documented_layouts()
    {
        Assert.Equal(new TensorShape(7, 3, 2, 5), ConvWeights.PackedShape(new TensorShape(7, 5, 3, 2)));
        Assert.Equal(new TensorShape(7, 3, 5), ConvWeights.PackedShape(new TensorShape(7, 5, 3, 1, 1)));
        Assert.Throws<ArgumentException>(() => ConvWeights.PackedShape(new TensorShape(7, 5, 3, 2, 1)));

        // weight[co, ci, ky, kx] = 1000 co + 100 ci + 10 ky + kx lands at packed[co, ky, kx, ci].
        var values = new float[2 * 3 * 2 * 2];
        for (var i = 0; i < values.Length; i++)
        {
            var (co, ci, ky, kx) = (i / 12, i / 4 % 3, i / 2 % 2, i % 2);
            values[i] = (1000 * co) + (100 * ci) + (10 * ky) + kx;
        }

        var packed = ConvWeights.PackOnHost(Tensor.FromArray(values, 2, 3, 2, 2), DType.F32);
        Assert.Equal(new TensorShape(2, 2, 2, 3), packed.Shape);
        Assert.Equal(1211f, packed.AsSpan<float>()[(((1 * 2) + 1) * 2 * 3) + (1 * 3) + 2]); // [1, 1, 1, 2]
        var temporal = ConvWeights.PackOnHost(Tensor.FromArray(new float[] { 0, 1, 2, 10, 11, 12 }, 1, 2, 3, 1, 1), DType.F16);
        Assert.Equal(new float[] { 0, 10, 1, 11, 2, 12 }, temporal.ToFloat32Array());
    }

    private static long OpArgumentsAlign(long bytes) => (bytes + 255) / 256 * 256;
}
