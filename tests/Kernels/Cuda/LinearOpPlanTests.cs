using CudaI2V.Kernels.Cuda;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda;

/// <summary>
/// <see cref="BlasLinearOp"/>'s plans without a GPU: the fused cuBLASLt path and the unfused cuBLAS + epilogue path (and
/// that each can be forced), alignment, chunking, the refusals, and the names of the reference set's implementations.
/// </summary>
public sealed class LinearOpPlanTests
{
    private readonly FakeDevice _device = new();

    private Tensor Device(DType dtype, params int[] dims) => _device.Make(dtype, dims);

    private Tensor Workspace(long bytes) => Device(DType.U8, (int)bytes);

    [Fact]
    public void Linear_fuses_bias_and_residual_into_one_cublaslt_gemm_when_aligned()
    {
        var (x, w, b, r, y) = (Device(DType.F16, 2, 13, 40), Device(DType.F16, 24, 40), Device(DType.F16, 24), Device(DType.F16, 2, 13, 24), Device(DType.F16, 2, 13, 24));
        var op = new BlasLinearOp();

        var plan = op.Plan(new LinearArgs(x, w, b, r, y), Workspace(1));
        var steps = plan.Steps.ToList();

        Assert.True(plan.Fused);
        var gemm = Assert.IsType<GemmStep>(Assert.Single(steps)); // the residual is read where it lies: no copy first
        Assert.Equal((GemmEngine.CublasLt, 1f, true), (gemm.Engine, gemm.Beta, gemm.TransposeB));
        Assert.Equal((r.DeviceAddress(), y.DeviceAddress(), new TensorShape(26, 24)), (gemm.Addend!.DeviceAddress(), gemm.C.DeviceAddress(), gemm.Addend!.Shape));
        Assert.Same(b, gemm.Bias);
        Assert.Equal((26, 24, 40), (gemm.Problem.M, gemm.Problem.N, gemm.Problem.K));

        var inPlace = Assert.IsType<GemmStep>(Assert.Single(op.Plan(new LinearArgs(x, w, b, y, y), Workspace(1)).Steps));
        Assert.Equal((1f, null), (inPlace.Beta, inPlace.Addend));
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
        var gemm = Assert.IsType<GemmStep>(Assert.Single(steps));
        Assert.Equal(26L * 24 * 4, gemm.Addend!.ByteLength);
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
    public void The_reference_set_names_its_implementations()
    {
        var set = MatrixOpSet.Reference();
        Assert.Equal(("im2col-cublas", "temporal-as-im2col-cublas", "cublas-linear", "gemm-softmax-gemm"), (set.Conv2d.Name, set.TemporalConv.Name, set.Linear.Name, set.Attention.Name));
        Assert.Equal(("cublaslt-fused", "cublas-epilogue"), (new BlasLinearOp(LinearPath.Fused).Name, new BlasLinearOp(LinearPath.Unfused).Name));
    }
}
