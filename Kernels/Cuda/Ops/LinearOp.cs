using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda.Ops;

/// <summary>The sizes of a linear layer, enough to plan its workspace.</summary>
/// <param name="Rows">M: the product of x's leading dimensions.</param>
/// <param name="InFeatures">in.</param>
/// <param name="OutFeatures">out.</param>
/// <param name="DType">F16, BF16 or F32.</param>
public sealed record LinearShape(long Rows, int InFeatures, int OutFeatures, DType DType);

/// <summary>
/// The arguments of a linear layer, <c>output = x weight^T + bias + residual</c> (the <see cref="IOps.Linear"/>
/// contract, plus where the result goes).
/// </summary>
/// <param name="X">(..., in), contiguous, F16, BF16 or F32 (every tensor argument of that one dtype).</param>
/// <param name="Weight">[out, in] (PyTorch layout).</param>
/// <param name="Bias">Optional [out].</param>
/// <param name="Residual">Optional (..., out); may be the output itself.</param>
/// <param name="Output">(..., out); must not overlap x, the weight or the bias.</param>
public sealed record LinearArgs(Tensor X, Tensor Weight, Tensor? Bias, Tensor? Residual, Tensor Output);

/// <summary>A linear layer on the GPU; swappable like <see cref="IConv2dOp"/>, and like it never allocating.</summary>
public interface ILinearOp
{
    /// <summary>A short name for reports.</summary>
    string Name { get; }

    /// <summary>The workspace that runs the whole layer in as few chunks as the implementation allows (0 if it needs none).</summary>
    long WorkspaceBytes(LinearShape shape);

    /// <summary>The smallest workspace that works at all.</summary>
    long MinimumWorkspaceBytes(LinearShape shape);

    /// <summary>Enqueues the layer on the context's stream.</summary>
    void Run(CudaOpContext context, LinearArgs args, Tensor workspace);
}

/// <summary>Which way <see cref="BlasLinearOp"/> runs.</summary>
public enum LinearPath
{
    /// <summary>
    /// Fused where cuBLASLt can take the operands (every address 256-byte aligned, as arena buffers are, and rows 16 bytes
    /// aligned: <see cref="BlasLinearOp.CanFuse"/>), else unfused.
    /// </summary>
    Auto,

    /// <summary>
    /// One cuBLASLt GEMM: the bias through its epilogue and the residual through beta = 1, read where it lies as
    /// cuBLASLt's C while the result goes to D, the output (no copy of the residual first). No workspace.
    /// </summary>
    Fused,

    /// <summary>A cuBLAS GEMM into an fp32 workspace, then GemmEpilogue.cu for bias and residual; chunked over rows.</summary>
    Unfused,
}

/// <summary>A planned linear layer: the path taken, its chunking and its steps (enumerated lazily).</summary>
/// <param name="Shape">The sizes.</param>
/// <param name="Fused">True for the cuBLASLt path.</param>
/// <param name="ChunkRows">Rows per chunk.</param>
/// <param name="Steps">The one GEMM (fused), or per chunk the GEMM and the epilogue (unfused).</param>
public sealed record LinearPlan(LinearShape Shape, bool Fused, long ChunkRows, IEnumerable<OpStep> Steps);

/// <summary>
/// PyTorch's Linear through cuBLAS: x is viewed as [M, in] and multiplied by the [out, in] weight transposed, fp16, bf16
/// or fp32 in, fp32 accumulation. Both paths add bias and residual to the fp32 sum and round once: the fused path inside
/// cuBLASLt (<c>D = acc + 1 * C + bias</c> with the residual in C), the unfused one in GemmEpilogue.cu.
/// Workspace: none for the fused path; <c>rows * out * 4</c> bytes for chunks of <c>rows</c> on the unfused one, any
/// size from one row up. <see cref="LinearPath.Auto"/> plans for the unfused figure, since alignment is only known
/// from the tensors.
/// </summary>
public sealed class BlasLinearOp : ILinearOp
{
    /// <summary>The operand alignment cuBLASLt's heuristic assumes unless told otherwise.</summary>
    public const long FusedAlignment = 256;

    /// <summary>An op on <paramref name="path"/> taking at most <paramref name="maxChunkRows"/> rows per unfused chunk.</summary>
    public BlasLinearOp(LinearPath path = LinearPath.Auto, long maxChunkRows = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxChunkRows);
        Path = path;
        MaxChunkRows = Math.Min(maxChunkRows, int.MaxValue);
    }

    /// <inheritdoc/>
    public string Name => Path switch
    {
        LinearPath.Fused => "cublaslt-fused",
        LinearPath.Unfused => "cublas-epilogue",
        _ => "cublas-linear",
    };

    /// <summary>The path this op takes.</summary>
    public LinearPath Path { get; }

    /// <summary>The most rows one unfused chunk takes, whatever the workspace.</summary>
    public long MaxChunkRows { get; }

    /// <inheritdoc/>
    public long WorkspaceBytes(LinearShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return Path == LinearPath.Fused ? 0 : ChunkCap(shape) * shape.OutFeatures * sizeof(float);
    }

    /// <inheritdoc/>
    public long MinimumWorkspaceBytes(LinearShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return Path == LinearPath.Fused ? 0 : (long)shape.OutFeatures * sizeof(float);
    }

    /// <summary>The row alignment the fused path asks for: x's and the output's rows a multiple of 16 bytes apart.</summary>
    public const int FusedRowAlignment = 16;

    /// <summary>
    /// True when cuBLASLt can take these operands as planned: every address a multiple of <see cref="FusedAlignment"/>
    /// (what its heuristic assumes unless told otherwise) and rows a multiple of <see cref="FusedRowAlignment"/> bytes
    /// apart (odd feature counts go the unfused way rather than risk cuBLASLt finding no algorithm).
    /// </summary>
    public static bool CanFuse(LinearArgs args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var size = args.X.DType.SizeOf();
        return new[] { args.X, args.Weight, args.Output, args.Bias }.All(t => t is null || t.DeviceAddress() % FusedAlignment == 0)
            && args.X.Shape[^1] * size % FusedRowAlignment == 0
            && args.Output.Shape[^1] * size % FusedRowAlignment == 0;
    }

    /// <summary>Checks the arguments and plans the steps (throws <see cref="ArgumentException"/> showing the shapes).</summary>
    public LinearPlan Plan(LinearArgs args, Tensor workspace)
    {
        const string Op = "Linear";
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(args.X);
        ArgumentNullException.ThrowIfNull(args.Weight);
        ArgumentNullException.ThrowIfNull(args.Output);
        var dtype = OpArguments.RequireGemmOperands(Op, (args.X, "x"), (args.Weight, "weight"), (args.Bias, "bias"), (args.Residual, "residual"), (args.Output, "output"));

        var outShape = OpShapes.Linear(args.X, args.Weight, args.Bias, args.Residual);
        if (args.Output.Shape != outShape)
        {
            throw OpShapes.Fail(Op, $"output must be {outShape} for x {args.X.Shape} and weight {args.Weight.Shape}, got {args.Output.Shape}.");
        }

        OpArguments.RequireSeparateOutput(Op, args.Output, args.Residual, (args.X, "x"), (args.Weight, "weight"), (args.Bias, "bias"));
        var (outFeatures, inFeatures) = (args.Weight.Shape[0], args.Weight.Shape[1]);
        var shape = new LinearShape(args.X.ElementCount / Math.Max(inFeatures, 1), inFeatures, outFeatures, dtype);
        if (shape.Rows > int.MaxValue)
        {
            throw OpShapes.Fail(Op, $"x {args.X.Shape} has {shape.Rows} rows; at most {int.MaxValue} are supported.");
        }

        var bytes = OpArguments.WorkspaceBytes(Op, workspace);
        var fused = Path switch
        {
            LinearPath.Fused when !CanFuse(args) => throw OpShapes.Fail(
                Op, $"the fused path needs x {args.X.Shape}, weight {args.Weight.Shape}, bias and output {args.Output.Shape} at {FusedAlignment}-byte aligned addresses with rows a multiple of {FusedRowAlignment} bytes apart; use LinearPath.Auto or Unfused."),
            LinearPath.Fused => true,
            LinearPath.Unfused => false,
            _ => CanFuse(args),
        };
        if (shape.Rows == 0 || outFeatures == 0)
        {
            return new LinearPlan(shape, fused, 1, []);
        }

        if (fused)
        {
            return new LinearPlan(shape, true, shape.Rows, FusedSteps(shape, args));
        }

        var chunk = Math.Min(ChunkCap(shape), bytes / ((long)outFeatures * sizeof(float)));
        if (chunk < 1)
        {
            throw OpShapes.Fail(Op, $"a workspace of {bytes} bytes is too small for x {args.X.Shape} and weight {args.Weight.Shape}: one row needs {MinimumWorkspaceBytes(shape)}.");
        }

        return new LinearPlan(shape, false, chunk, UnfusedSteps(shape, chunk, args, workspace));
    }

    /// <inheritdoc/>
    public void Run(CudaOpContext context, LinearArgs args, Tensor workspace)
    {
        ArgumentNullException.ThrowIfNull(context);
        foreach (var step in Plan(args, workspace).Steps)
        {
            step.Execute(context);
        }
    }

    private long ChunkCap(LinearShape shape) => Math.Max(1, Math.Min(shape.Rows, MaxChunkRows));

    private static IEnumerable<OpStep> FusedSteps(LinearShape s, LinearArgs args)
    {
        var (m, n) = ((int)s.Rows, s.OutFeatures);
        var output = args.Output.Reshape(m, n);
        var addend = args.Residual is null || OpArguments.SameBytes(args.Residual, args.Output) ? null : args.Residual.Reshape(m, n);
        yield return new GemmStep(GemmEngine.CublasLt, args.X.Reshape(m, s.InFeatures), args.Weight, output, TransposeB: true, args.Bias, args.Residual is null ? 0f : 1f, addend);
    }

    private static IEnumerable<OpStep> UnfusedSteps(LinearShape s, long chunk, LinearArgs args, Tensor workspace)
    {
        var (m, n) = ((int)s.Rows, s.OutFeatures);
        var x = args.X.Reshape(m, s.InFeatures);
        var output = args.Output.Reshape(m, n);
        var residual = args.Residual?.Reshape(m, n);
        for (long start = 0; start < m; start += chunk)
        {
            var (r0, rows) = ((int)start, (int)Math.Min(chunk, m - start));
            var accumulator = OpArguments.View(workspace, 0, DType.F32, rows, n);
            yield return new GemmStep(GemmEngine.Cublas, x.Slice(0, r0, rows), args.Weight, accumulator, TransposeB: true);
            var epilogue = GemmEpilogueKernel.Plan(accumulator, output.Slice(0, r0, rows), args.Bias, null, residual?.Slice(0, r0, rows), r0);
            yield return new LaunchStep<GemmEpilogueParams>(epilogue!.Value);
        }
    }
}
