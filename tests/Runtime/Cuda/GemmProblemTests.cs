using CudaI2V.Native.Blas;
using CudaI2V.Runtime.Blas;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Runtime.Cuda;

/// <summary>GEMM shape checks and the row-major to column-major translation (host tensors stand in: no GPU involved).</summary>
public sealed class GemmProblemTests
{
    private static Tensor T(DType dtype, params int[] dims) => Tensor.Zeros(dtype, new TensorShape(dims));

    [Fact]
    public void A_plain_product_swaps_operands_for_column_major_cublas()
    {
        var p = GemmProblem.Create(T(DType.F16, 64, 32), T(DType.F16, 32, 48), T(DType.F16, 64, 48));

        Assert.Equal((64, 48, 32, 1), (p.M, p.N, p.K, p.Batch));
        Assert.Equal((CublasOperation.None, CublasOperation.None), (p.CublasTransA, p.CublasTransB));
        Assert.Equal(new GemmOperand(DType.F16, 32, 0), p.A);
        Assert.Equal(new GemmOperand(DType.F16, 48, 0), p.B);
        Assert.Equal(new GemmOperand(DType.F16, 48, 0), p.C);
        Assert.Equal(2.0 * 64 * 48 * 32, p.Flops);
    }

    [Fact]
    public void A_linear_layer_transposes_the_weight()
    {
        // y[M, N] = x[M, K] W[N, K]^T: cuBLAS's first operand (W) is transposed.
        var p = GemmProblem.Create(T(DType.BF16, 10, 320), T(DType.BF16, 640, 320), T(DType.F32, 10, 640), transposeB: true);

        Assert.Equal((10, 640, 320), (p.M, p.N, p.K));
        Assert.Equal(CublasOperation.Transpose, p.CublasTransA);
        Assert.Equal(CublasOperation.None, p.CublasTransB);
        Assert.Equal(320, p.B.LeadingDimension);
    }

    [Fact]
    public void Batches_use_strides_and_a_2d_operand_is_broadcast()
    {
        var q = T(DType.F16, 8, 16, 64);
        var k = T(DType.F16, 8, 24, 64);
        var scores = T(DType.F32, 8, 16, 24);

        var p = GemmProblem.Create(q, k, scores, transposeB: true);
        Assert.Equal((16, 24, 64, 8), (p.M, p.N, p.K, p.Batch));
        Assert.Equal((1024L, 1536L, 384L), (p.A.BatchStride, p.B.BatchStride, p.C.BatchStride));

        var shared = GemmProblem.Create(q, T(DType.F16, 64, 32), T(DType.F16, 8, 16, 32));
        Assert.Equal(0, shared.B.BatchStride);
    }

    [Fact]
    public void Padded_rows_and_sliced_columns_keep_their_leading_dimension()
    {
        var wide = T(DType.F16, 16, 100).Slice(1, 10, 64); // [16, 64] rows 100 apart
        var p = GemmProblem.Create(wide, T(DType.F16, 64, 8), T(DType.F16, 16, 8));
        Assert.Equal(100, p.A.LeadingDimension);
    }

    [Fact]
    public void Fp32_operands_are_a_true_fp32_gemm()
    {
        var p = GemmProblem.Create(T(DType.F32, 3, 10, 64), T(DType.F32, 48, 64), T(DType.F32, 3, 10, 48), transposeB: true);

        Assert.Equal((10, 48, 64, 3), (p.M, p.N, p.K, p.Batch));
        Assert.Equal(new GemmOperand(DType.F32, 64, 640), p.A);
        Assert.Equal(new GemmOperand(DType.F32, 64, 0), p.B);
        Assert.Equal(CudaDataType.F32, GemmProblem.BlasType(p.A.DType));
        // CUBLAS_COMPUTE_32F (68), never CUBLAS_COMPUTE_32F_FAST_TF32 (77): fp32 inputs stay fp32.
        Assert.Equal(68, (int)CublasComputeType.Compute32F);
        Assert.Equal(["Compute32F"], Enum.GetNames<CublasComputeType>());
    }

    [Fact]
    public void Mismatched_inner_sizes_show_every_shape()
    {
        var e = Assert.Throws<ArgumentException>(() => GemmProblem.Create(T(DType.F16, 4, 8), T(DType.F16, 9, 16), T(DType.F16, 4, 16)));

        Assert.Contains("op(A) is [4, 8] and op(B) is [9, 16]", e.Message, StringComparison.Ordinal);
        Assert.Contains("A F16 [4, 8], B F16 [9, 16], C F16 [4, 16]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Wrong_outputs_dtypes_and_layouts_are_refused()
    {
        Assert.Contains("C must be [4, 16]", Assert.Throws<ArgumentException>(() => GemmProblem.Create(T(DType.F16, 4, 8), T(DType.F16, 8, 16), T(DType.F16, 16, 4))).Message, StringComparison.Ordinal);
        Assert.Contains("must both be F16, both BF16 or both F32", Assert.Throws<ArgumentException>(() => GemmProblem.Create(T(DType.F16, 4, 8), T(DType.BF16, 8, 16), T(DType.F32, 4, 16))).Message, StringComparison.Ordinal);
        Assert.Contains("must both be F16, both BF16 or both F32", Assert.Throws<ArgumentException>(() => GemmProblem.Create(T(DType.F32, 4, 8), T(DType.F16, 8, 16), T(DType.F32, 4, 16))).Message, StringComparison.Ordinal);
        Assert.Contains("must both be F16, both BF16 or both F32", Assert.Throws<ArgumentException>(() => GemmProblem.Create(T(DType.I32, 4, 8), T(DType.I32, 8, 16), T(DType.I32, 4, 16))).Message, StringComparison.Ordinal);
        Assert.Contains("C must be F32 for F32 inputs", Assert.Throws<ArgumentException>(() => GemmProblem.Create(T(DType.F32, 4, 8), T(DType.F32, 8, 16), T(DType.F16, 4, 16))).Message, StringComparison.Ordinal);
        Assert.Contains("C must be F16 or F32", Assert.Throws<ArgumentException>(() => GemmProblem.Create(T(DType.F16, 4, 8), T(DType.F16, 8, 16), T(DType.BF16, 4, 16))).Message, StringComparison.Ordinal);
        Assert.Contains("last dimension must be contiguous", Assert.Throws<ArgumentException>(() => GemmProblem.Create(T(DType.F16, 8, 4).Permute(1, 0), T(DType.F16, 8, 16), T(DType.F16, 4, 16))).Message, StringComparison.Ordinal);
        Assert.Contains("batch of 3 does not match", Assert.Throws<ArgumentException>(() => GemmProblem.Create(T(DType.F16, 3, 4, 8), T(DType.F16, 8, 16), T(DType.F16, 2, 4, 16))).Message, StringComparison.Ordinal);
        Assert.Contains("2-D, or 3-D", Assert.Throws<ArgumentException>(() => GemmProblem.Create(T(DType.F16, 8), T(DType.F16, 8, 16), T(DType.F16, 16))).Message, StringComparison.Ordinal);
    }
}
