using CudaI2V.Kernels.Cuda;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda;

/// <summary>
/// <see cref="GemmSoftmaxAttentionOp"/>'s plans without a GPU: heads read in place by strided batched GEMMs (leading
/// dimensions, batch strides, head offsets), chunking over sequences and queries to fit the workspace, fp32
/// probabilities, and the refusals with messages showing the shapes.
/// </summary>
public sealed class AttentionOpPlanTests
{
    private readonly FakeDevice _device = new();

    private Tensor Device(DType dtype, params int[] dims) => _device.Make(dtype, dims);

    private Tensor Workspace(long bytes) => Device(DType.U8, (int)bytes);

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
    public void Keys_and_values_shared_by_a_videos_sequences_are_read_as_one_matrix_and_rounds_stop_at_each_video()
    {
        // Two videos of 3 frames (B = 6) reading one k/v sequence each; rounds of up to 4 sequences, two heads of 64.
        var (q, k, v, o) = (Device(DType.F16, 6, 21, 128), Device(DType.F16, 2, 19, 128), Device(DType.F16, 2, 19, 128), Device(DType.F16, 6, 21, 128));
        var op = new GemmSoftmaxAttentionOp(maxImagesPerChunk: 4);
        var args = new AttentionArgs(q, k, v, 2, o);
        Assert.Equal(new AttentionShape(6, 21, 19, 2, 64, DType.F16, KvGroup: 3), GemmSoftmaxAttentionOp.Check(args));

        var steps = op.Plan(args, Workspace(op.WorkspaceBytes(GemmSoftmaxAttentionOp.Check(args)))).Steps.ToList();

        Assert.Equal(2 * 2 * 3, steps.Count); // heads x videos (a round of 4 would cross a video: 3 sequences each) x 3 steps
        for (var round = 0; round < 4; round++)
        {
            var (head, video) = (round / 2, round % 2);
            var scores = Assert.IsType<GemmStep>(steps[3 * round]);
            var values = Assert.IsType<GemmStep>(steps[(3 * round) + 2]);
            Assert.Equal(q.DeviceAddress() + (ulong)(((video * 3 * 21 * 128) + (head * 64)) * 2), scores.A.DeviceAddress());
            Assert.Equal(k.DeviceAddress() + (ulong)(((video * 19 * 128) + (head * 64)) * 2), scores.B.DeviceAddress());
            Assert.Equal(v.DeviceAddress() + (ulong)(((video * 19 * 128) + (head * 64)) * 2), values.B.DeviceAddress());
            Assert.Equal(o.DeviceAddress() + (ulong)(((video * 3 * 21 * 128) + (head * 64)) * 2), values.C.DeviceAddress());
            var (s, pv) = (scores.Problem, values.Problem);
            Assert.Equal((21, 19, 64, 3), (s.M, s.N, s.K, s.Batch));
            Assert.Equal((128L, 0L), (s.B.LeadingDimension, s.B.BatchStride)); // the video's one k, repeated over its frames
            Assert.Equal((128L, 0L), (pv.B.LeadingDimension, pv.B.BatchStride));
            Assert.Equal(21L * 128, pv.C.BatchStride);
        }

        // Rounds of 2 cut a video of 3 into 2 + 1; k/v rows that do not divide q's are refused.
        Assert.Equal(2 * 2 * 2 * 3, new GemmSoftmaxAttentionOp(maxImagesPerChunk: 2).Plan(args, Workspace(1 << 20)).Steps.Count());
        var four = Device(DType.F16, 4, 19, 128);
        Assert.Contains("have 4 rows, which do not divide the 6 rows of q", Assert.Throws<ArgumentException>(() => op.Plan(new(q, four, four, 2, o), Workspace(1 << 20))).Message, StringComparison.Ordinal);
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

    private static long OpArgumentsAlign(long bytes) => (bytes + 255) / 256 * 256;
}
