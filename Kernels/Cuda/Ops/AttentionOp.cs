using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda.Ops;

/// <summary>The sizes of a multi-head attention, enough to plan its workspace.</summary>
/// <param name="Batch">B: sequences (images, or pixel-sequences of frames).</param>
/// <param name="Queries">Lq.</param>
/// <param name="Keys">Lk.</param>
/// <param name="Heads">Heads.</param>
/// <param name="HeadDim">d; the channels are heads * d.</param>
/// <param name="DType">F16, BF16 or F32.</param>
/// <param name="KvGroup">Consecutive sequences of q sharing one sequence of k and v (1: one each; see <see cref="IOps.Attention"/>).</param>
public sealed record AttentionShape(int Batch, int Queries, int Keys, int Heads, int HeadDim, DType DType, int KvGroup = 1);

/// <summary>How much of an attention one round of GEMM, softmax, GEMM takes: sequences of one head, and queries of each.</summary>
/// <param name="Images">Sequences per round (the GEMMs' batch).</param>
/// <param name="Queries">Queries per sequence per round.</param>
public readonly record struct AttentionChunking(int Images, int Queries);

/// <summary>
/// The arguments of an attention (the <see cref="IOps.Attention"/> contract, plus where the result goes): per sequence b
/// and head h, <c>output_h = softmax(q_h k_h^T / sqrt(d)) v_h</c>, head h owning channels h * d .. h * d + d - 1.
/// </summary>
/// <param name="Q">(B, Lq, heads * d), contiguous, F16, BF16 or F32 (every tensor argument of that one dtype).</param>
/// <param name="K">(Bk, Lk, heads * d), Bk dividing B: sequence b of q reads sequence b / (B / Bk) of k and v.</param>
/// <param name="V">(Bk, Lk, heads * d).</param>
/// <param name="Heads">The number of heads.</param>
/// <param name="Output">(B, Lq, heads * d), written completely; must not overlap q, k or v.</param>
public sealed record AttentionArgs(Tensor Q, Tensor K, Tensor V, int Heads, Tensor Output);

/// <summary>Multi-head attention on the GPU; swappable like <see cref="IConv2dOp"/>, and like it never allocating.</summary>
public interface IAttentionOp
{
    /// <summary>A short name for reports.</summary>
    string Name { get; }

    /// <summary>The workspace that runs the whole attention in as few rounds as the implementation allows.</summary>
    long WorkspaceBytes(AttentionShape shape);

    /// <summary>The smallest workspace that works at all.</summary>
    long MinimumWorkspaceBytes(AttentionShape shape);

    /// <summary>Enqueues the attention on the context's stream.</summary>
    void Run(CudaOpContext context, AttentionArgs args, Tensor workspace);
}

/// <summary>A planned attention: its chunking and its steps (enumerated lazily).</summary>
/// <param name="Shape">The sizes.</param>
/// <param name="Chunking">Sequences and queries per round.</param>
/// <param name="Steps">Per head, sequence group and query block: S = Q K^T, the softmax, O = P V.</param>
public sealed record AttentionPlan(AttentionShape Shape, AttentionChunking Chunking, IEnumerable<OpStep> Steps);

/// <summary>
/// Attention as two batched cuBLAS GEMMs around Softmax.cu, for every head dimension (4, 8, 64, 80, 512, ...). For each
/// head h, each group of sequences [b0, b0 + images) and each block of queries [i0, i0 + queries):
/// <list type="number">
/// <item><c>S = Q_h K_h^T</c> into an fp32 [images, queries, Lk] region of the workspace: a strided batched GEMM over
/// the sequences, reading head h straight from the channels-last tensors (a pointer offset of h * d elements, rows
/// heads * d apart, sequences Lq * heads * d apart): no head is ever copied out.</item>
/// <item><c>P = softmax(S / sqrt(d))</c> in fp32, written in the activation dtype to a second region (the second GEMM's
/// operands share one type, so in fp16 or bf16 P is rounded once, as in a plain fp16 attention; the scores are not;
/// in fp32 nothing is rounded).</item>
/// <item><c>O_h = P V_h</c>, written by the GEMM straight into head h's channels of the output rows.</item>
/// </list>
/// With k and v shared by groups of consecutive sequences (a video's frames reading its one context), a round never
/// crosses a group's boundary: its GEMMs read the group's one k/v sequence as a 2-D operand, which cuBLAS repeats over
/// the batch (a batch stride of 0). A round then takes at most one group's sequences, so a batch of g groups takes at
/// least g rounds per head.
/// Workspace: <c>align256(n * Lk * 4) + n * Lk * e</c> bytes for n = images x queries per round, e the element size (2
/// for fp16 and bf16, 4 for fp32). The plan takes whole sequences when one fits (as many as fit, at most
/// <see cref="MaxImagesPerChunk"/>), else one sequence at a time in blocks of as many queries as fit; the minimum is one
/// query row, <c>align256(Lk * 4) + Lk * e</c>.
/// </summary>
public sealed class GemmSoftmaxAttentionOp : IAttentionOp
{
    /// <summary>The largest GEMM batch planned by default (the grid's y/z limit; cuBLAS may split larger ones itself, but we do not rely on it).</summary>
    public const int DefaultMaxImages = 65535;

    /// <summary>An op taking at most <paramref name="maxImagesPerChunk"/> sequences and <paramref name="maxQueriesPerChunk"/> queries per round.</summary>
    public GemmSoftmaxAttentionOp(int maxImagesPerChunk = DefaultMaxImages, int maxQueriesPerChunk = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxImagesPerChunk);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxQueriesPerChunk);
        MaxImagesPerChunk = maxImagesPerChunk;
        MaxQueriesPerChunk = maxQueriesPerChunk;
    }

    /// <inheritdoc/>
    public string Name => "gemm-softmax-gemm";

    /// <summary>The most sequences one round takes.</summary>
    public int MaxImagesPerChunk { get; }

    /// <summary>The most queries per sequence one round takes.</summary>
    public int MaxQueriesPerChunk { get; }

    /// <summary>The workspace for rounds of <paramref name="images"/> sequences of <paramref name="queries"/> queries.</summary>
    public static long BytesFor(AttentionShape shape, long images, long queries)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var elements = images * queries * shape.Keys;
        return OpArguments.Align(elements * sizeof(float)) + (elements * shape.DType.SizeOf());
    }

    /// <inheritdoc/>
    public long WorkspaceBytes(AttentionShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return BytesFor(shape, ImagesCap(shape), QueriesCap(shape));
    }

    /// <inheritdoc/>
    public long MinimumWorkspaceBytes(AttentionShape shape) => BytesFor(shape, 1, 1);

    /// <summary>The rounds <paramref name="workspaceBytes"/> allows (Images = 0 when not even one query row fits).</summary>
    public AttentionChunking ChunkingFor(AttentionShape shape, long workspaceBytes)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var queries = QueriesCap(shape);
        if (BytesFor(shape, 1, queries) <= workspaceBytes)
        {
            return new AttentionChunking(Largest(ImagesCap(shape), n => BytesFor(shape, n, queries), workspaceBytes), queries);
        }

        var fitting = Largest(queries, n => BytesFor(shape, 1, n), workspaceBytes);
        return fitting == 0 ? default : new AttentionChunking(1, fitting);
    }

    /// <summary>Checks the arguments and plans the steps (throws <see cref="ArgumentException"/> showing the shapes).</summary>
    public AttentionPlan Plan(AttentionArgs args, Tensor workspace)
    {
        const string Op = "Attention";
        var shape = Check(args);
        var bytes = OpArguments.WorkspaceBytes(Op, workspace);
        if (shape.Batch == 0 || shape.Queries == 0 || shape.HeadDim == 0)
        {
            return new AttentionPlan(shape, new AttentionChunking(1, 1), []);
        }

        var chunking = ChunkingFor(shape, bytes);
        if (chunking.Images == 0)
        {
            throw OpShapes.Fail(
                Op, $"a workspace of {bytes} bytes is too small for q {args.Q.Shape} and k {args.K.Shape}: one query row of scores needs {MinimumWorkspaceBytes(shape)}.");
        }

        return new AttentionPlan(shape, chunking, Steps(shape, chunking, args, workspace));
    }

    /// <summary>
    /// Checks what every attention implementation needs (one dtype on the device, the <see cref="IOps.Attention"/>
    /// shapes, an output like q that overlaps no input) and returns the sizes; throws <see cref="ArgumentException"/>
    /// showing the shapes.
    /// </summary>
    public static AttentionShape Check(AttentionArgs args)
    {
        const string Op = "Attention";
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(args.Q);
        ArgumentNullException.ThrowIfNull(args.K);
        ArgumentNullException.ThrowIfNull(args.V);
        ArgumentNullException.ThrowIfNull(args.Output);
        var dtype = OpArguments.RequireGemmOperands(Op, (args.Q, "q"), (args.K, "k"), (args.V, "v"), (args.Output, "output"));

        if (args.Output.Shape != args.Q.Shape)
        {
            throw OpShapes.Fail(Op, $"output must be {args.Q.Shape} like q, got {args.Output.Shape}.");
        }

        foreach (var (t, name) in new[] { (args.Q, "q"), (args.K, "k"), (args.V, "v") })
        {
            OpArguments.RequireDisjoint(Op, args.Output, t, name);
        }

        var group = OpShapes.Attention(args.Q, args.K, args.V, args.Heads);
        return new AttentionShape(args.Q.Shape[0], args.Q.Shape[1], args.K.Shape[1], args.Heads, args.Q.Shape[2] / args.Heads, dtype, group);
    }

    /// <inheritdoc/>
    public void Run(CudaOpContext context, AttentionArgs args, Tensor workspace)
    {
        ArgumentNullException.ThrowIfNull(context);
        foreach (var step in Plan(args, workspace).Steps)
        {
            step.Execute(context);
        }
    }

    private int ImagesCap(AttentionShape shape) => Math.Max(1, Math.Min(shape.Batch, MaxImagesPerChunk));

    private int QueriesCap(AttentionShape shape) => Math.Max(1, Math.Min(shape.Queries, MaxQueriesPerChunk));

    /// <summary>The largest n in [0, cap] with bytes(n) within the budget (bytes grows with n).</summary>
    private static int Largest(int cap, Func<int, long> bytes, long budget)
    {
        var (low, high) = (0, cap);
        while (low < high)
        {
            var middle = low + ((high - low + 1) / 2);
            (low, high) = bytes(middle) <= budget ? (middle, high) : (low, middle - 1);
        }

        return low;
    }

    private static IEnumerable<OpStep> Steps(AttentionShape s, AttentionChunking chunking, AttentionArgs args, Tensor workspace)
    {
        var d = s.HeadDim;
        var scale = (float)(1.0 / Math.Sqrt(d));
        for (var h = 0; h < s.Heads; h++)
        {
            // Head h of every row: (B, L, d) views with rows heads * d apart, starting h * d elements in.
            var (q, k, v, o) = (args.Q.Slice(2, h * d, d), args.K.Slice(2, h * d, d), args.V.Slice(2, h * d, d), args.Output.Slice(2, h * d, d));
            for (int b0 = 0, images; b0 < s.Batch; b0 += images)
            {
                images = Math.Min(chunking.Images, s.Batch - b0);
                Tensor keys, values;
                if (s.KvGroup > 1)
                {
                    // Within one group only: its one k/v sequence, 2-D, is repeated over the round's sequences.
                    images = Math.Min(images, s.KvGroup - (b0 % s.KvGroup));
                    (keys, values) = (k.Select(0, b0 / s.KvGroup), v.Select(0, b0 / s.KvGroup));
                }
                else
                {
                    (keys, values) = (k.Slice(0, b0, images), v.Slice(0, b0, images));
                }

                for (var i0 = 0; i0 < s.Queries; i0 += chunking.Queries)
                {
                    var queries = Math.Min(chunking.Queries, s.Queries - i0);
                    var scores = OpArguments.View(workspace, 0, DType.F32, images, queries, s.Keys);
                    var probabilities = OpArguments.View(workspace, OpArguments.Align(scores.ByteLength), s.DType, images, queries, s.Keys);
                    yield return new GemmStep(GemmEngine.Cublas, q.Slice(0, b0, images).Slice(1, i0, queries), keys, scores, TransposeB: true);
                    yield return new LaunchStep<SoftmaxParams>(SoftmaxKernel.Plan(scores, probabilities, scale)!.Value);
                    yield return new GemmStep(GemmEngine.Cublas, probabilities, values, o.Slice(0, b0, images).Slice(1, i0, queries), TransposeB: false);
                }
            }
        }
    }
}
