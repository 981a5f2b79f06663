using CudaI2V.Native.Blas;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Runtime.Blas;

/// <summary>
/// GEMMs through cuBLASLt with its bias epilogue, <c>C = op(A) op(B) + bias</c> (the bias broadcast over rows), on
/// row-major device tensors with the same rules as <see cref="GemmProblem"/>. cuBLASLt's GELU epilogues are the tanh
/// approximation, which I2VGen-XL does not use, so only the bias is offered. Each problem shape's descriptors and the
/// heuristic's algorithm are made once and reused. The matmul descriptor computes in fp32 (<c>CUBLAS_COMPUTE_32F</c>,
/// fp32 scale): for fp32 operands that is true fp32, not TF32; the layouts carry each operand's own type, and the
/// bias takes cuBLASLt's default type, C's. Not thread-safe: one per stream.
/// </summary>
public sealed class CublasLtGemm : IDisposable
{
    private readonly CublasLtHandle _handle;
    private readonly DeviceAllocation _workspace;
    private readonly long _workspaceBytes;
    private readonly Dictionary<PlanKey, Plan> _plans = [];

    /// <summary>A cuBLASLt handle enqueuing on <paramref name="stream"/> with <paramref name="workspaceBytes"/> of workspace.</summary>
    public CublasLtGemm(CudaStream stream, long workspaceBytes = CublasGemm.DefaultWorkspaceBytes)
    {
        ArgumentNullException.ThrowIfNull(stream);
        stream.Context.MakeCurrent();
        Stream = stream;
        _workspaceBytes = workspaceBytes;
        _workspace = DeviceMemory.Allocate(stream.Context, workspaceBytes);
        try
        {
            _handle = new CublasLtHandle(CublasLt.Create());
        }
        catch
        {
            _workspace.Dispose();
            throw;
        }
    }

    /// <summary>The stream the GEMMs are enqueued on.</summary>
    public CudaStream Stream { get; }

    /// <summary>PyTorch's Linear: <c>y = x weight^T + bias</c> with x [M, K], weight [N, K], bias [N] (or null), y [M, N].</summary>
    public void Linear(Tensor x, Tensor weight, Tensor? bias, Tensor y) => MatMul(x, weight, y, bias, transposeB: true);

    /// <summary>
    /// Enqueues <c>C = op(A) op(B) + beta addend + bias</c>; <paramref name="bias"/> is a contiguous [N] vector of C's
    /// dtype, added to every row of C (of every batch entry), or null for none. The addend is C's previous contents, or
    /// <paramref name="addend"/> (a residual read where it lies: same dtype, shape and strides as C, so it shares C's
    /// layout). With <paramref name="beta"/> 1 it is added in fp32 before the one rounding to C's dtype.
    /// </summary>
    public void MatMul(Tensor a, Tensor b, Tensor c, Tensor? bias, bool transposeA = false, bool transposeB = false, float beta = 0f, Tensor? addend = null)
    {
        var p = GemmProblem.Create(a, b, c, transposeA, transposeB);
        var addendAddress = 0UL;
        if (addend is not null)
        {
            if (addend.DType != c.DType || addend.Shape != c.Shape || !addend.Strides.SequenceEqual(c.Strides))
            {
                throw new ArgumentException($"GEMM: the addend must have C's dtype, shape and strides ({c.DType} {c.Shape}); got {addend.DType} {addend.Shape}.", nameof(addend));
            }

            addendAddress = CublasGemm.Address(addend, p.C, "addend");
        }

        ulong biasAddress = 0;
        if (bias is not null)
        {
            if (bias.Shape.Rank != 1 || bias.Shape[0] != p.N || bias.DType != c.DType || !bias.IsContiguous)
            {
                throw new ArgumentException($"GEMM: the bias must be a contiguous {c.DType} [{p.N}] vector for C {c.DType} {c.Shape}; got {bias.DType} {bias.Shape}.", nameof(bias));
            }

            biasAddress = bias.DeviceAddress("bias");
            ((DeviceStorage)bias.Storage).AddressOf(bias.ByteOffset, bias.ByteLength);
        }

        var (pa, pb, pc) = (CublasGemm.Address(a, p.A, "A"), CublasGemm.Address(b, p.B, "B"), CublasGemm.Address(c, p.C, "C"));
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        Stream.Context.MakeCurrent();
        var plan = PlanFor(p, bias is not null);
        if (bias is not null)
        {
            CublasLt.SetBias(plan.Matmul, biasAddress);
        }

        CublasLt.Matmul(
            _handle.Value, plan.Matmul, 1f, pb, plan.First, pa, plan.Second, beta, addend is null ? pc : addendAddress, pc, plan.Result,
            plan.Algorithm, _workspace.Address, _workspaceBytes, Stream.Handle);
    }

    /// <summary>Destroys the descriptors and the handle and frees the workspace. Never throws.</summary>
    public void Dispose()
    {
        Stream.Context.TryMakeCurrent();
        foreach (var plan in _plans.Values)
        {
            CublasLt.TryDestroyMatmul(plan.Matmul);
            CublasLt.TryDestroyLayout(plan.First);
            CublasLt.TryDestroyLayout(plan.Second);
            CublasLt.TryDestroyLayout(plan.Result);
        }

        _plans.Clear();
        _handle.Dispose();
        _workspace.Dispose();
    }

    private Plan PlanFor(GemmProblem p, bool hasBias)
    {
        var key = new PlanKey(p, hasBias);
        if (_plans.TryGetValue(key, out var plan))
        {
            return plan;
        }

        // cuBLASLt layouts describe matrices as stored (before the transpose), column-major: cuBLAS's first operand is
        // our B, stored N x K (K x N when B is transposed); the second our A, stored K x M (M x K); the result N x M.
        nint matmul = 0, first = 0, second = 0, result = 0;
        try
        {
            matmul = CublasLt.CreateMatmul(p.CublasTransA, p.CublasTransB, hasBias ? CublasLtEpilogue.Bias : CublasLtEpilogue.Default, 0);
            first = p.TransposeB
                ? Layout(p.B, p.K, p.N, p.Batch)
                : Layout(p.B, p.N, p.K, p.Batch);
            second = p.TransposeA
                ? Layout(p.A, p.M, p.K, p.Batch)
                : Layout(p.A, p.K, p.M, p.Batch);
            result = Layout(p.C, p.N, p.M, p.Batch);
            var algorithm = CublasLt.BestAlgorithm(_handle.Value, matmul, first, second, result, _workspaceBytes)
                ?? throw new NotSupportedException($"cuBLASLt has no algorithm for this GEMM (M={p.M}, N={p.N}, K={p.K}, batch {p.Batch}, {p.A.DType} -> {p.C.DType}{(hasBias ? ", bias" : "")}).");
            plan = new Plan(matmul, first, second, result, algorithm);
            _plans[key] = plan;
            return plan;
        }
        catch
        {
            CublasLt.TryDestroyMatmul(matmul);
            CublasLt.TryDestroyLayout(first);
            CublasLt.TryDestroyLayout(second);
            CublasLt.TryDestroyLayout(result);
            throw;
        }
    }

    private static nint Layout(GemmOperand operand, int rows, int cols, int batch) =>
        CublasLt.CreateLayout(GemmProblem.BlasType(operand.DType), rows, cols, operand.LeadingDimension, batch, operand.BatchStride);

    private readonly record struct PlanKey(GemmProblem Problem, bool HasBias);

    private sealed record Plan(nint Matmul, nint First, nint Second, nint Result, CublasLtHeuristicResult Algorithm);
}
