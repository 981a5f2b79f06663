using CudaI2V.Runtime.Blas;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda.Ops;

/// <summary>
/// What the op implementations (convolution, linear, attention) need on a GPU: the launchers' module cache, the stream,
/// and the cuBLAS and cuBLASLt handles bound to that stream.
/// </summary>
/// <param name="Kernels">The launchers' module cache.</param>
/// <param name="Stream">The stream every step is enqueued on.</param>
/// <param name="Blas">cuBLAS on <paramref name="Stream"/>.</param>
/// <param name="BlasLt">cuBLASLt on <paramref name="Stream"/>.</param>
public sealed record CudaOpContext(CudaKernels Kernels, CudaStream Stream, CublasGemm Blas, CublasLtGemm BlasLt);

/// <summary>Which library runs a <see cref="GemmStep"/>.</summary>
public enum GemmEngine
{
    /// <summary><see cref="CublasGemm"/>: cublasGemmEx or its strided-batched form; any pointer alignment.</summary>
    Cublas,

    /// <summary><see cref="CublasLtGemm"/>: cublasLtMatmul with its bias epilogue; 256-byte aligned operands.</summary>
    CublasLt,
}

/// <summary>
/// One enqueued piece of an op: a kernel launch, a GEMM or a device copy. An op implementation plans its work as a
/// sequence of steps from tensors alone (no GPU), so tests can check every step's views, addresses and parameters on a
/// machine without one, and running the op is executing its steps in order on one stream.
/// </summary>
public abstract record OpStep
{
    /// <summary>Enqueues the step on the context's stream.</summary>
    public abstract void Execute(CudaOpContext context);
}

/// <summary>A planned kernel launch.</summary>
/// <typeparam name="TParams">The entry point's params struct.</typeparam>
/// <param name="Launch">Source file, entry, grid and parameters.</param>
public sealed record LaunchStep<TParams>(KernelLaunch<TParams> Launch) : OpStep
    where TParams : unmanaged
{
    /// <inheritdoc/>
    public override void Execute(CudaOpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Kernels.Launch(context.Stream, Launch);
    }
}

/// <summary>
/// A GEMM on row-major views, <c>C = A op(B) + Beta C + Bias</c> (see <see cref="GemmProblem"/>; op(B) = B^T when
/// <paramref name="TransposeB"/>). A bias needs <see cref="GemmEngine.CublasLt"/>.
/// </summary>
/// <param name="Engine">cuBLAS or cuBLASLt.</param>
/// <param name="A">[M, K] or [batch, M, K].</param>
/// <param name="B">[K, N] ([N, K] when transposed), 2-D or batched.</param>
/// <param name="C">[M, N] or [batch, M, N].</param>
/// <param name="TransposeB">Whether B is used transposed.</param>
/// <param name="Bias">Optional [N] of C's dtype (cuBLASLt's epilogue).</param>
/// <param name="Beta">Multiplies the addend (0: C is overwritten).</param>
/// <param name="Addend">What <paramref name="Beta"/> multiplies when it is not C's previous contents: a residual shaped
/// like C, read where it lies (cuBLASLt only, whose C and D may differ).</param>
public sealed record GemmStep(GemmEngine Engine, Tensor A, Tensor B, Tensor C, bool TransposeB, Tensor? Bias = null, float Beta = 0f, Tensor? Addend = null) : OpStep
{
    /// <summary>The checked problem (shapes, leading dimensions, batch strides) this step hands cuBLAS.</summary>
    public GemmProblem Problem => GemmProblem.Create(A, B, C, transposeB: TransposeB);

    /// <inheritdoc/>
    public override void Execute(CudaOpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (Engine == GemmEngine.CublasLt)
        {
            context.BlasLt.MatMul(A, B, C, Bias, transposeB: TransposeB, beta: Beta, addend: Addend);
        }
        else if (Bias is null && Addend is null)
        {
            context.Blas.MatMul(A, B, C, transposeB: TransposeB, beta: Beta);
        }
        else
        {
            throw new InvalidOperationException("A cuBLAS GEMM step has no bias epilogue and no separate addend; use cuBLASLt.");
        }
    }
}

/// <summary>A device-to-device copy of a contiguous tensor into another of the same dtype and shape.</summary>
/// <param name="Source">The contiguous source.</param>
/// <param name="Destination">The contiguous destination.</param>
public sealed record CopyStep(Tensor Source, Tensor Destination) : OpStep
{
    /// <inheritdoc/>
    public override void Execute(CudaOpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        DeviceMemory.CopyAsync(context.Stream, Destination.DeviceAddress(nameof(Destination)), Source.DeviceAddress(nameof(Source)), Source.ByteLength);
    }
}
