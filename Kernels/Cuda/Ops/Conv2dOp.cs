using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda.Ops;

/// <summary>How a convolution's filter is laid out in device memory.</summary>
public enum ConvWeightLayout
{
    /// <summary>PyTorch's own [Cout, Cin, kh, kw] (temporal: [Cout, Cin, kt, 1, 1]), used as loaded; the patches are gathered in [ci][ky][kx] order.</summary>
    Torch,

    /// <summary>
    /// [Cout, kh, kw, Cin] (temporal: [Cout, kt, Cin]), converted once at load (<see cref="ConvWeights"/>): each tap's
    /// input channels are contiguous like a channels-last pixel, the layout docs/architecture.md gives every conv kernel.
    /// </summary>
    Packed,
}

/// <summary>The sizes of a 2-D convolution, enough to plan its workspace before any tensor exists.</summary>
/// <param name="Batch">N.</param>
/// <param name="Height">H.</param>
/// <param name="Width">W.</param>
/// <param name="InChannels">Cin.</param>
/// <param name="OutChannels">Cout.</param>
/// <param name="KernelHeight">kh.</param>
/// <param name="KernelWidth">kw.</param>
/// <param name="Stride">The stride along both axes.</param>
/// <param name="Padding">Zeros around the image.</param>
/// <param name="DType">F16, BF16 or F32.</param>
public sealed record Conv2dShape(
    int Batch, int Height, int Width, int InChannels, int OutChannels, int KernelHeight, int KernelWidth, int Stride, Padding2D Padding, DType DType)
{
    /// <summary>Ho = (H + top + bottom - kh) / stride + 1.</summary>
    public int OutHeight => ((Height + Padding.Top + Padding.Bottom - KernelHeight) / Stride) + 1;

    /// <summary>Wo = (W + left + right - kw) / stride + 1.</summary>
    public int OutWidth => ((Width + Padding.Left + Padding.Right - KernelWidth) / Stride) + 1;

    /// <summary>M = N * Ho * Wo: output pixels, the GEMM's rows.</summary>
    public long Rows => (long)Batch * OutHeight * OutWidth;

    /// <summary>K = kh * kw * Cin: the length of one receptive field, the GEMM's inner size.</summary>
    public int PatchLength => KernelHeight * KernelWidth * InChannels;

    /// <summary>A 1x1 convolution with stride 1 and no padding: x itself is the GEMM's [M, Cin] operand.</summary>
    public bool IsPointwise => KernelHeight == 1 && KernelWidth == 1 && Stride == 1 && Padding == Padding2D.None;
}

/// <summary>
/// The arguments of a 2-D convolution (the <see cref="IOps.Conv2d"/> contract, plus where the result goes):
/// <c>output = conv(x, weight) + bias[co] + perImage[n, co] + residual[n, y, x, co]</c>, added in that order.
/// </summary>
/// <param name="X">(N, H, W, Cin), contiguous, F16, BF16 or F32 (every tensor argument of that one dtype).</param>
/// <param name="Weight">[Cout, Cin, kh, kw] (<see cref="ConvWeightLayout.Torch"/>) or [Cout, kh, kw, Cin] (<see cref="ConvWeightLayout.Packed"/>).</param>
/// <param name="WeightLayout">Which of the two <paramref name="Weight"/> is.</param>
/// <param name="Bias">Optional [Cout].</param>
/// <param name="Stride">Step between output pixels along both axes.</param>
/// <param name="Padding">Zeros around the image (asymmetric allowed).</param>
/// <param name="PerImage">Optional (N, Cout).</param>
/// <param name="Residual">Optional (N, Ho, Wo, Cout); may be the output itself.</param>
/// <param name="Output">(N, Ho, Wo, Cout), written completely; must not overlap x, the weight, the bias or perImage.</param>
public sealed record Conv2dArgs(
    Tensor X, Tensor Weight, ConvWeightLayout WeightLayout, Tensor? Bias, int Stride, Padding2D Padding, Tensor? PerImage, Tensor? Residual, Tensor Output);

/// <summary>
/// A 2-D convolution on the GPU. Implementations can be swapped (a faster kernel behind the same entry, and back for
/// comparison); each never allocates: the caller passes the output and a workspace of any size from
/// <see cref="MinimumWorkspaceBytes"/> up, and a smaller workspace means more, smaller chunks.
/// </summary>
public interface IConv2dOp
{
    /// <summary>A short name for reports ("im2col-cublas").</summary>
    string Name { get; }

    /// <summary>The workspace that runs the whole convolution in as few chunks as the implementation allows.</summary>
    long WorkspaceBytes(Conv2dShape shape);

    /// <summary>The smallest workspace that works at all.</summary>
    long MinimumWorkspaceBytes(Conv2dShape shape);

    /// <summary>Enqueues the convolution on the context's stream.</summary>
    void Run(CudaOpContext context, Conv2dArgs args, Tensor workspace);
}

/// <summary>A planned convolution: the path taken, its chunking, and its steps (enumerated lazily).</summary>
/// <param name="Shape">The sizes.</param>
/// <param name="Im2col">True when patches are gathered into the workspace; false when x is the GEMM operand itself.</param>
/// <param name="ChunkRows">Output pixels per chunk.</param>
/// <param name="Steps">Per chunk: im2col (when used), the GEMM into fp32, the epilogue.</param>
public sealed record Conv2dPlan(Conv2dShape Shape, bool Im2col, long ChunkRows, IEnumerable<OpStep> Steps)
{
    /// <summary>Chunks the rows are processed in.</summary>
    public long Chunks => Shape.Rows == 0 ? 0 : (Shape.Rows + ChunkRows - 1) / ChunkRows;
}

/// <summary>
/// Convolution as im2col plus one cuBLAS GEMM per chunk of output pixels. For each chunk of rows
/// [r0, r0 + rows) of the M = N * Ho * Wo output pixels:
/// <list type="number">
/// <item>Im2col.cu gathers the receptive fields into the workspace as a [rows, K] matrix, K = kh * kw * Cin, in the K
/// order of the weight's layout; a pointwise conv (1x1, stride 1, no padding) skips this and uses rows of x directly.</item>
/// <item>cuBLAS computes <c>acc = cols W^T</c> into an fp32 [rows, Cout] region of the workspace (fp16, bf16 or fp32 in,
/// fp32 accumulation), with W the weight viewed as [Cout, K].</item>
/// <item>GemmEpilogue.cu adds bias, perImage and residual in fp32 and rounds once into the output rows.</item>
/// </list>
/// The GEMM writes fp32 rather than using cuBLASLt's bias epilogue because that would round the sum to fp16 before the
/// per-image row and residual are added; here the result is the CPU backend's fp32 sum rounded once.
/// Workspace: <c>align256(rows * K * e) + rows * Cout * 4</c> bytes for chunks of <c>rows</c>, e the element size (2 for
/// fp16 and bf16, 4 for fp32; the first term only with im2col); any workspace holding one row works, larger ones take
/// more rows per chunk.
/// </summary>
public sealed class Im2colConv2dOp : IConv2dOp
{
    /// <summary>An op taking at most <paramref name="maxChunkRows"/> output pixels per chunk; <paramref name="forceIm2col"/> gathers patches even for pointwise convolutions (tests use both).</summary>
    public Im2colConv2dOp(long maxChunkRows = int.MaxValue, bool forceIm2col = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxChunkRows);
        MaxChunkRows = Math.Min(maxChunkRows, int.MaxValue);
        ForceIm2col = forceIm2col;
    }

    /// <inheritdoc/>
    public string Name => "im2col-cublas";

    /// <summary>The most output pixels one chunk takes, whatever the workspace.</summary>
    public long MaxChunkRows { get; }

    /// <summary>Gather patches even where x could be used directly.</summary>
    public bool ForceIm2col { get; }

    /// <summary>Whether this op gathers patches for <paramref name="shape"/>.</summary>
    public bool UsesIm2col(Conv2dShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return ForceIm2col || !shape.IsPointwise;
    }

    /// <summary>The workspace for chunks of <paramref name="rows"/> output pixels.</summary>
    public long BytesFor(Conv2dShape shape, long rows)
    {
        var accumulator = rows * shape.OutChannels * sizeof(float);
        return UsesIm2col(shape) ? OpArguments.Align(rows * shape.PatchLength * shape.DType.SizeOf()) + accumulator : accumulator;
    }

    /// <inheritdoc/>
    public long WorkspaceBytes(Conv2dShape shape) => BytesFor(shape, ChunkCap(shape));

    /// <inheritdoc/>
    public long MinimumWorkspaceBytes(Conv2dShape shape) => BytesFor(shape, 1);

    /// <summary>The most output pixels per chunk that <paramref name="workspaceBytes"/> holds (0 when not even one).</summary>
    public long ChunkRowsFor(Conv2dShape shape, long workspaceBytes)
    {
        var cap = ChunkCap(shape);
        if (BytesFor(shape, cap) <= workspaceBytes)
        {
            return cap;
        }

        var perRow = (UsesIm2col(shape) ? (long)shape.PatchLength * shape.DType.SizeOf() : 0) + ((long)shape.OutChannels * sizeof(float));
        var rows = Math.Min(cap, workspaceBytes / Math.Max(perRow, 1));
        while (rows > 0 && BytesFor(shape, rows) > workspaceBytes)
        {
            rows--; // alignment padding: at most 256 bytes' worth of rows
        }

        return rows;
    }

    /// <summary>Checks the arguments and plans the steps (throws <see cref="ArgumentException"/> showing the shapes).</summary>
    public Conv2dPlan Plan(Conv2dArgs args, Tensor workspace)
    {
        const string Op = "Conv2d";
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(args.X);
        ArgumentNullException.ThrowIfNull(args.Weight);
        ArgumentNullException.ThrowIfNull(args.Output);
        var dtype = OpArguments.RequireGemmOperands(
            Op, (args.X, "x"), (args.Weight, "weight"), (args.Bias, "bias"), (args.PerImage, "perImage"), (args.Residual, "residual"), (args.Output, "output"));

        OpShapes.RequireRank(Op, "weight", args.Weight, 4, args.WeightLayout == ConvWeightLayout.Packed ? "[Cout, kh, kw, Cin] (packed)" : "[Cout, Cin, kh, kw]");
        OpShapes.RequireRank(Op, "x", args.X, 4, "(N, H, W, Cin)");
        if (args.WeightLayout == ConvWeightLayout.Packed && args.Weight.Shape[3] != args.X.Shape[3])
        {
            throw OpShapes.Fail(Op, $"packed weight {args.Weight.Shape} ([Cout, kh, kw, Cin]) expects {args.Weight.Shape[3]} input channels but x {args.X.Shape} has {args.X.Shape[3]}.");
        }

        var torchOrder = args.WeightLayout == ConvWeightLayout.Packed ? args.Weight.Permute(0, 3, 1, 2) : args.Weight;
        var outShape = OpShapes.Conv2d(args.X, torchOrder, args.Bias, args.Stride, args.Padding, args.PerImage, args.Residual);
        if (args.Output.Shape != outShape)
        {
            throw OpShapes.Fail(Op, $"output must be {outShape} for x {args.X.Shape} and weight {args.Weight.Shape}, got {args.Output.Shape}.");
        }

        OpArguments.RequireSeparateOutput(Op, args.Output, args.Residual, (args.X, "x"), (args.Weight, "weight"), (args.Bias, "bias"), (args.PerImage, "perImage"));
        var shape = new Conv2dShape(
            args.X.Shape[0], args.X.Shape[1], args.X.Shape[2], args.X.Shape[3], torchOrder.Shape[0], torchOrder.Shape[2], torchOrder.Shape[3], args.Stride, args.Padding, dtype);
        if (shape.Rows > int.MaxValue)
        {
            throw OpShapes.Fail(Op, $"output {outShape} has {shape.Rows} pixels; at most {int.MaxValue} are supported.");
        }

        var bytes = OpArguments.WorkspaceBytes(Op, workspace);
        if (shape.Rows == 0 || shape.OutChannels == 0)
        {
            return new Conv2dPlan(shape, UsesIm2col(shape), 1, []);
        }

        var chunk = ChunkRowsFor(shape, bytes);
        if (chunk < 1)
        {
            throw OpShapes.Fail(Op, $"a workspace of {bytes} bytes is too small for x {args.X.Shape} and weight {args.Weight.Shape}: one output pixel needs {MinimumWorkspaceBytes(shape)}.");
        }

        return new Conv2dPlan(shape, UsesIm2col(shape), chunk, Steps(shape, UsesIm2col(shape), chunk, args, workspace));
    }

    /// <inheritdoc/>
    public void Run(CudaOpContext context, Conv2dArgs args, Tensor workspace)
    {
        ArgumentNullException.ThrowIfNull(context);
        foreach (var step in Plan(args, workspace).Steps)
        {
            step.Execute(context);
        }
    }

    private long ChunkCap(Conv2dShape shape) => Math.Max(1, Math.Min(shape.Rows, MaxChunkRows));

    private static IEnumerable<OpStep> Steps(Conv2dShape s, bool im2col, long chunk, Conv2dArgs args, Tensor workspace)
    {
        var (m, k, cout) = ((int)s.Rows, s.PatchLength, s.OutChannels);
        // The weight's rows hold K values in the order its layout implies, the order im2col gathers in; a pointwise
        // filter is [Cout, Cin] in either layout.
        var weight = args.Weight.Reshape(cout, k);
        var output = args.Output.Reshape(m, cout);
        var residual = args.Residual?.Reshape(m, cout);
        var pointwiseInput = im2col ? null : args.X.Reshape(m, s.InChannels);
        var accumulatorOffset = im2col ? OpArguments.Align(chunk * k * s.DType.SizeOf()) : 0;
        for (long start = 0; start < m; start += chunk)
        {
            var (r0, rows) = ((int)start, (int)Math.Min(chunk, m - start));
            Tensor a;
            if (pointwiseInput is null)
            {
                a = OpArguments.View(workspace, 0, s.DType, rows, k);
                if (Im2colKernel.Plan(args.X, a, s.KernelHeight, s.KernelWidth, s.Stride, s.Padding, args.WeightLayout, r0) is { } gather)
                {
                    yield return new LaunchStep<Im2colParams>(gather);
                }
            }
            else
            {
                a = pointwiseInput.Slice(0, r0, rows);
            }

            var accumulator = OpArguments.View(workspace, accumulatorOffset, DType.F32, rows, cout);
            yield return new GemmStep(GemmEngine.Cublas, a, weight, accumulator, TransposeB: true);
            var epilogue = GemmEpilogueKernel.Plan(
                accumulator, output.Slice(0, r0, rows), args.Bias, args.PerImage, residual?.Slice(0, r0, rows), r0, (long)s.OutHeight * s.OutWidth);
            yield return new LaunchStep<GemmEpilogueParams>(epilogue!.Value);
        }
    }
}
