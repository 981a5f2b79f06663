using CudaI2V.Native.Blas;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Runtime.Blas;

/// <summary>One operand's layout as cuBLAS sees it: element type, leading dimension and batch stride, in elements.</summary>
/// <param name="DType">Element type.</param>
/// <param name="LeadingDimension">The stored matrix's row stride (cuBLAS's column stride).</param>
/// <param name="BatchStride">Elements between batch entries; 0 broadcasts one matrix over the batch.</param>
public readonly record struct GemmOperand(DType DType, long LeadingDimension, long BatchStride);

/// <summary>
/// A checked GEMM on row-major tensors, <c>C[b] = alpha op(A[b]) op(B[b]) + beta C[b]</c> with op(A) of shape [M, K],
/// op(B) [K, N] and C [M, N], and its translation to column-major cuBLAS. Operands are 2-D, or 3-D with a leading
/// batch (a 2-D A or B is repeated over C's batch); the last dimension must be contiguous, rows may be padded.
/// A and B are both fp16, both bf16 or both fp32; C is their type or fp32. Accumulation is fp32 (cuBLAS's
/// <see cref="CublasComputeType.Compute32F"/>): on tensor cores for fp16/bf16 inputs, and true IEEE fp32 for fp32
/// inputs, never TF32 (that would take <c>CUBLAS_COMPUTE_32F_FAST_TF32</c> or a TF32 math mode, neither used here).
/// </summary>
/// <remarks>
/// cuBLAS is column-major: a row-major [R, C] matrix is, to cuBLAS, the C x R matrix of its transpose. So the
/// row-major product C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T: cuBLAS's first operand is
/// our B, its second our A, and its m, n are our N, M.
/// </remarks>
public sealed record GemmProblem(int M, int N, int K, int Batch, bool TransposeA, bool TransposeB, GemmOperand A, GemmOperand B, GemmOperand C)
{
    /// <summary>Checks shapes, strides and dtypes; an <see cref="ArgumentException"/> shows the shapes involved.</summary>
    public static GemmProblem Create(Tensor a, Tensor b, Tensor c, bool transposeA = false, bool transposeB = false)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(c);
        // The message is built only on failure: this runs for every GEMM.
        ArgumentException Error(string what) => new(
            $"GEMM: {what}; got A {a.DType} {a.Shape}{(transposeA ? " (transposed)" : "")}, B {b.DType} {b.Shape}{(transposeB ? " (transposed)" : "")}, C {c.DType} {c.Shape}.");

        foreach (var (t, name) in new[] { (a, "A"), (b, "B"), (c, "C") })
        {
            if (t.Shape.Rank is not (2 or 3))
            {
                throw Error($"{name} must be 2-D, or 3-D with a leading batch");
            }

            if (t.Shape[^1] > 1 && t.Strides[^1] != 1)
            {
                throw Error($"{name}'s last dimension must be contiguous (stride 1, not {t.Strides[^1]})");
            }
        }

        if (a.DType != b.DType || a.DType is not (DType.F16 or DType.BF16 or DType.F32))
        {
            throw Error("A and B must both be F16, both BF16 or both F32");
        }

        if (c.DType != a.DType && c.DType != DType.F32)
        {
            throw Error(a.DType == DType.F32 ? "C must be F32 for F32 inputs" : $"C must be {a.DType} or F32");
        }

        var (m, ka) = transposeA ? (a.Shape[^1], a.Shape[^2]) : (a.Shape[^2], a.Shape[^1]);
        var (kb, n) = transposeB ? (b.Shape[^1], b.Shape[^2]) : (b.Shape[^2], b.Shape[^1]);
        if (ka != kb)
        {
            throw Error($"op(A) is [{m}, {ka}] and op(B) is [{kb}, {n}]: their inner sizes differ");
        }

        if (c.Shape[^2] != m || c.Shape[^1] != n)
        {
            throw Error($"C must be [{m}, {n}]");
        }

        var batch = c.Shape.Rank == 3 ? c.Shape[0] : 1;
        foreach (var (t, name) in new[] { (a, "A"), (b, "B") })
        {
            if (t.Shape.Rank == 3 && (c.Shape.Rank != 3 || t.Shape[0] != batch))
            {
                throw Error($"{name}'s batch of {t.Shape[0]} does not match C's {(c.Shape.Rank == 3 ? batch.ToString(System.Globalization.CultureInfo.InvariantCulture) : "absent batch")}");
            }
        }

        if (m == 0 || n == 0 || batch == 0)
        {
            throw Error("C is empty");
        }

        return new GemmProblem(m, n, ka, batch, transposeA, transposeB, Operand(a, "A", Error), Operand(b, "B", Error), Operand(c, "C", Error));
    }

    /// <summary>cuBLAS's transpose of its first operand (our B).</summary>
    public CublasOperation CublasTransA => TransposeB ? CublasOperation.Transpose : CublasOperation.None;

    /// <summary>cuBLAS's transpose of its second operand (our A).</summary>
    public CublasOperation CublasTransB => TransposeA ? CublasOperation.Transpose : CublasOperation.None;

    /// <summary>Multiply-adds times two: the FLOP count the GEMM performs.</summary>
    public double Flops => 2.0 * M * N * K * Batch;

    /// <summary>The cuBLAS data type of a dtype.</summary>
    public static CudaDataType BlasType(DType dtype) => dtype switch
    {
        DType.F16 => CudaDataType.F16,
        DType.BF16 => CudaDataType.BF16,
        DType.F32 => CudaDataType.F32,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "cuBLAS GEMMs here take F16, BF16 or F32."),
    };

    private static GemmOperand Operand(Tensor t, string name, Func<string, ArgumentException> error)
    {
        var rows = t.Shape[^2];
        var cols = t.Shape[^1];
        var ld = rows <= 1 ? Math.Max(cols, 1) : t.Strides[^2];
        if (ld < cols)
        {
            throw error($"{name}'s rows overlap (row stride {ld} for {cols} columns)");
        }

        if (ld > int.MaxValue || rows > int.MaxValue)
        {
            throw error($"{name}'s leading dimension {ld} exceeds cuBLAS's 32-bit range");
        }

        var batchStride = t.Shape.Rank == 3 && t.Shape[0] > 1 ? t.Strides[0] : 0;
        return new GemmOperand(t.DType, ld, batchStride);
    }
}
