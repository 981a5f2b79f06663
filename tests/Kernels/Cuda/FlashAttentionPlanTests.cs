using CudaI2V.Kernels.Cuda;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda;

/// <summary>
/// FlashAttention.cu's launcher and <see cref="FlashAttentionOp"/> planned against fake device storage: the entry by
/// head dimension and dtype, the grid, the strides, and every reason a call goes to the GEMM path.
/// </summary>
public sealed class FlashAttentionPlanTests
{
    private readonly FakeDevice _device = new();

    private Tensor Device(DType dtype, params int[] dims) => _device.Make(dtype, dims);

    private AttentionArgs Args(DType dtype, int batch, int queries, int keys, int heads, int d) =>
        new(Device(dtype, batch, queries, heads * d), Device(dtype, batch, keys, heads * d), Device(dtype, batch, keys, heads * d), heads, Device(dtype, batch, queries, heads * d));

    [Theory]
    [InlineData(DType.F16, 64, "flash_attention_d64_f16")]
    [InlineData(DType.BF16, 64, "flash_attention_d64_bf16")]
    [InlineData(DType.F16, 80, "flash_attention_d80_f16")]
    [InlineData(DType.BF16, 80, "flash_attention_d80_bf16")]
    public void The_entry_grid_and_strides_follow_the_shapes(DType dtype, int d, string entry)
    {
        var args = Args(dtype, 3, 130, 77, 5, d);
        var shape = GemmSoftmaxAttentionOp.Check(args);

        Assert.Null(FlashAttentionKernel.Unsupported(args, shape, 90));
        var launch = FlashAttentionKernel.Plan(args, shape)!.Value;
        Assert.Equal(entry, launch.Entry);
        Assert.Equal(new Dim3(3 * 3, 5), launch.Config.Grid); // ceil(130 / 64) = 3 query blocks per sequence
        Assert.Equal(new Dim3(128), launch.Config.Block);
        var p = launch.Params;
        Assert.Equal((args.Q.DeviceAddress(), args.K.DeviceAddress(), args.V.DeviceAddress(), args.Output.DeviceAddress()), (p.Q, p.K, p.V, p.Output));
        Assert.Equal((130L * 5 * d, 77L * 5 * d, 77L * 5 * d, 130L * 5 * d), (p.QBatch, p.KBatch, p.VBatch, p.OutputBatch));
        Assert.Equal((5 * d, 5 * d, 5 * d, 5 * d), (p.QRow, p.KRow, p.VRow, p.OutputRow));
        Assert.Equal((130, 77, 3), (p.Queries, p.Keys, p.QueryBlocks));
        Assert.Equal((float)(1.0 / Math.Sqrt(d) * 1.4426950408889634), p.ScaleLog2, 6);
        Assert.Equal(1, p.KvGroup);
    }

    [Fact]
    public void Keys_and_values_shared_by_groups_of_sequences_pass_the_group()
    {
        // Two videos of 4 frames: k and v have a sequence per video, read by sequence b at b / 4.
        var args = new AttentionArgs(Device(DType.F16, 8, 130, 128), Device(DType.F16, 2, 77, 128), Device(DType.F16, 2, 77, 128), 2, Device(DType.F16, 8, 130, 128));
        var shape = GemmSoftmaxAttentionOp.Check(args);

        Assert.Null(FlashAttentionKernel.Unsupported(args, shape, 90));
        var launch = FlashAttentionKernel.Plan(args, shape)!.Value;
        Assert.Equal(new Dim3(8 * 3, 2), launch.Config.Grid); // one block row per sequence of q, not of k
        Assert.Equal((4, 77L * 128, 77L * 128, 130L * 128), (launch.Params.KvGroup, launch.Params.KBatch, launch.Params.VBatch, launch.Params.QBatch));
    }

    [Fact]
    public void Every_call_the_kernel_cannot_take_says_why()
    {
        var fp32 = Args(DType.F32, 1, 4, 4, 1, 64);
        Assert.Contains("fp16 and bf16, not F32", FlashAttentionKernel.Unsupported(fp32, GemmSoftmaxAttentionOp.Check(fp32), 90), StringComparison.Ordinal);
        var d8 = Args(DType.F16, 1, 4, 4, 2, 8);
        Assert.Contains("head dimensions 64, 80, not 8", FlashAttentionKernel.Unsupported(d8, GemmSoftmaxAttentionOp.Check(d8), 90), StringComparison.Ordinal);
        var d64 = Args(DType.F16, 1, 4, 4, 1, 64);
        Assert.Contains("sm_80 or newer, not sm_75", FlashAttentionKernel.Unsupported(d64, GemmSoftmaxAttentionOp.Check(d64), 75), StringComparison.Ordinal);

        // A q that starts 8 bytes into its allocation (a view of an arena, say) is not 16-byte aligned.
        var shifted = _device.MakeAt(8, DType.F16, 1, 4, 64);
        var misaligned = new AttentionArgs(shifted, Device(DType.F16, 1, 4, 64), Device(DType.F16, 1, 4, 64), 1, Device(DType.F16, 1, 4, 64));
        Assert.Contains("q is not 16-byte aligned", FlashAttentionKernel.Unsupported(misaligned, GemmSoftmaxAttentionOp.Check(misaligned), 90), StringComparison.Ordinal);
    }

    [Fact]
    public void The_op_takes_supported_calls_in_one_launch_and_gives_the_rest_to_the_gemm_path()
    {
        var op = new FlashAttentionOp();
        var workspace = Device(DType.U8, 1 << 20);
        var supported = Args(DType.F16, 2, 33, 21, 2, 64);
        var step = Assert.Single(op.Steps(supported, workspace, 90));
        Assert.Equal("flash_attention_d64_f16", Assert.IsType<LaunchStep<FlashAttentionParams>>(step).Launch.Entry);
        Assert.Equal(0, op.WorkspaceBytes(new AttentionShape(2, 33, 21, 2, 64, DType.F16)));

        var small = Args(DType.F16, 2, 33, 21, 2, 8);
        Assert.Equal(op.Fallback.Plan(small, workspace).Steps.Count(), op.Steps(small, workspace, 90).Count());
        Assert.Equal(op.Fallback.WorkspaceBytes(new AttentionShape(2, 33, 21, 2, 8, DType.F16)), op.WorkspaceBytes(new AttentionShape(2, 33, 21, 2, 8, DType.F16)));
        Assert.Equal(3 * 2, op.Steps(supported, workspace, 75).Count()); // an older card: per head, S, softmax, P V
    }

    [Fact]
    public void The_sets_are_named_and_an_unknown_name_is_refused()
    {
        Assert.IsType<GemmSoftmaxAttentionOp>(MatrixOpSet.ForAttention("gemm").Attention);
        Assert.IsType<FlashAttentionOp>(MatrixOpSet.ForAttention("flash").Attention);
        Assert.Contains("use gemm or flash", Assert.Throws<ArgumentException>(() => MatrixOpSet.ForAttention("sdpa")).Message, StringComparison.Ordinal);
    }
}
