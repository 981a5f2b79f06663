using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CudaI2V.Native.Blas;

/// <summary>cudaDataType_t (library_types.h): the element types our GEMMs use.</summary>
public enum CudaDataType
{
    /// <summary>CUDA_R_32F.</summary>
    F32 = 0,

    /// <summary>CUDA_R_16F.</summary>
    F16 = 2,

    /// <summary>CUDA_R_16BF.</summary>
    BF16 = 14,
}

/// <summary>cublasComputeType_t (cuBLAS 11+).</summary>
public enum CublasComputeType
{
    /// <summary>
    /// CUBLAS_COMPUTE_32F: fp32 accumulation, with tensor cores for fp16/bf16 inputs. For fp32 inputs it is true fp32
    /// (no TF32) while the handle stays in its default math mode, as ours do: TF32 is CUBLAS_COMPUTE_32F_FAST_TF32
    /// (77) or the CUBLAS_TF32_TENSOR_OP_MATH mode, neither of which CudaI2V uses.
    /// </summary>
    Compute32F = 68,
}

/// <summary>cublasOperation_t.</summary>
public enum CublasOperation
{
    /// <summary>CUBLAS_OP_N: the matrix as stored (column-major).</summary>
    None = 0,

    /// <summary>CUBLAS_OP_T: its transpose.</summary>
    Transpose = 1,
}

/// <summary>cublasLtEpilogue_t: what cuBLASLt applies to the product before storing it.</summary>
public enum CublasLtEpilogue
{
    /// <summary>CUBLASLT_EPILOGUE_DEFAULT: nothing.</summary>
    Default = 1,

    /// <summary>CUBLASLT_EPILOGUE_BIAS: adds a bias vector (one value per row of D) to every column.</summary>
    Bias = 4,
}

/// <summary>cublasLtMatmulDescAttributes_t values we set.</summary>
internal enum LtMatmulDescAttribute
{
    TransA = 3,
    TransB = 4,
    Epilogue = 7,
    BiasPointer = 8,
}

/// <summary>cublasLtMatrixLayoutAttribute_t values we set.</summary>
internal enum LtLayoutAttribute
{
    BatchCount = 5,
    StridedBatchOffset = 6,
}

/// <summary>cublasLtMatmulPreferenceAttributes_t values we set.</summary>
internal enum LtPreferenceAttribute
{
    MaxWorkspaceBytes = 1,
}

/// <summary>cublasLtMatmulAlgo_t: 64 opaque bytes describing one algorithm.</summary>
[InlineArray(8)]
public struct CublasLtMatmulAlgo
{
    private ulong _data;
}

/// <summary>
/// cublasLtMatmulHeuristicResult_t, 96 bytes: the algorithm, its workspace, its status and the waves it fills
/// (a test checks the size).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct CublasLtHeuristicResult
{
    /// <summary>The algorithm to pass to cublasLtMatmul.</summary>
    public CublasLtMatmulAlgo Algo;

    /// <summary>Workspace bytes it needs.</summary>
    public nuint WorkspaceSize;

    /// <summary>cublasStatus_t: 0 when usable.</summary>
    public int State;

    /// <summary>Predicted fill of the GPU (1.0 = one full wave).</summary>
    public float WavesCount;

    /// <summary>Reserved by cuBLASLt.</summary>
    public Reserved4 Reserved;

    /// <summary>Four reserved ints.</summary>
    [InlineArray(4)]
    public struct Reserved4
    {
        private int _element;
    }
}

/// <summary>Names and texts of cublasStatus_t values (shared by cuBLAS and cuBLASLt).</summary>
internal static class CublasStatusNames
{
    internal static string Name(int status) => status switch
    {
        0 => "CUBLAS_STATUS_SUCCESS",
        1 => "CUBLAS_STATUS_NOT_INITIALIZED",
        3 => "CUBLAS_STATUS_ALLOC_FAILED",
        7 => "CUBLAS_STATUS_INVALID_VALUE",
        8 => "CUBLAS_STATUS_ARCH_MISMATCH",
        11 => "CUBLAS_STATUS_MAPPING_ERROR",
        13 => "CUBLAS_STATUS_EXECUTION_FAILED",
        14 => "CUBLAS_STATUS_INTERNAL_ERROR",
        15 => "CUBLAS_STATUS_NOT_SUPPORTED",
        16 => "CUBLAS_STATUS_LICENSE_ERROR",
        _ => $"cublasStatus_t {status}",
    };

    internal static string Text(int status) => status switch
    {
        1 => "the library was not initialized",
        3 => "resource allocation failed",
        7 => "an unsupported value or parameter was passed to the function",
        8 => "the function requires a feature absent from the device architecture",
        11 => "an access to GPU memory space failed",
        13 => "the GPU program failed to execute",
        14 => "an internal operation failed",
        15 => "the functionality requested is not supported",
        16 => "the functionality requested requires some license",
        _ => "unknown status",
    };
}
