using System.Runtime.InteropServices;
using CudaI2V.Native.Loading;

namespace CudaI2V.Native.Blas;

/// <summary>
/// Raw cuBLAS (cublas_api.h, v2 API). The older functions are exported with a <c>_v2</c> suffix, which is what
/// cublas_v2.h maps their plain names to; the Ex functions have none. Handles are opaque pointers (nint), device
/// pointers ulong, host scalars (alpha, beta; pointer mode host) float*. Column-major, as all BLAS.
/// Status values are cublasStatus_t as int. Only <see cref="Cublas"/> calls these.
/// </summary>
internal static unsafe partial class CublasApi
{
    private const string Lib = CudaLibraryNames.CublasImport;

    static CublasApi() => NativeLibraries.EnsureResolver();

    [LibraryImport(Lib)]
    internal static partial int cublasCreate_v2(out nint handle);

    [LibraryImport(Lib)]
    internal static partial int cublasDestroy_v2(nint handle);

    [LibraryImport(Lib)]
    internal static partial int cublasSetStream_v2(nint handle, nint stream);

    [LibraryImport(Lib)]
    internal static partial int cublasSetWorkspace_v2(nint handle, ulong workspace, nuint bytes);

    // libraryPropertyType: 0 major, 1 minor, 2 patch. Needs no GPU.
    [LibraryImport(Lib)]
    internal static partial int cublasGetProperty(int type, out int value);

    // cuBLAS 11.4.2+; returns a static string.
    [LibraryImport(Lib)]
    internal static partial nint cublasGetStatusString(int status);

    [LibraryImport(Lib)]
    internal static partial int cublasGemmEx(
        nint handle, CublasOperation transA, CublasOperation transB, int m, int n, int k,
        float* alpha, ulong a, CudaDataType aType, int lda,
        ulong b, CudaDataType bType, int ldb,
        float* beta, ulong c, CudaDataType cType, int ldc,
        CublasComputeType computeType, int algorithm);

    [LibraryImport(Lib)]
    internal static partial int cublasGemmStridedBatchedEx(
        nint handle, CublasOperation transA, CublasOperation transB, int m, int n, int k,
        float* alpha, ulong a, CudaDataType aType, int lda, long strideA,
        ulong b, CudaDataType bType, int ldb, long strideB,
        float* beta, ulong c, CudaDataType cType, int ldc, long strideC,
        int batchCount, CublasComputeType computeType, int algorithm);
}

/// <summary>
/// Raw cuBLASLt (cublasLt.h). Descriptors and layouts are opaque pointers (nint); attribute setters take a pointer
/// to the value and its size. Only <see cref="CublasLt"/> calls these.
/// </summary>
internal static unsafe partial class CublasLtApi
{
    private const string Lib = CudaLibraryNames.CublasLtImport;

    static CublasLtApi() => NativeLibraries.EnsureResolver();

    [LibraryImport(Lib)]
    internal static partial int cublasLtCreate(out nint handle);

    [LibraryImport(Lib)]
    internal static partial int cublasLtDestroy(nint handle);

    // 10000 * major + 100 * minor + patch; needs no GPU.
    [LibraryImport(Lib)]
    internal static partial nuint cublasLtGetVersion();

    [LibraryImport(Lib)]
    internal static partial int cublasLtMatmulDescCreate(out nint desc, CublasComputeType computeType, CudaDataType scaleType);

    [LibraryImport(Lib)]
    internal static partial int cublasLtMatmulDescDestroy(nint desc);

    [LibraryImport(Lib)]
    internal static partial int cublasLtMatmulDescSetAttribute(nint desc, LtMatmulDescAttribute attribute, void* value, nuint size);

    [LibraryImport(Lib)]
    internal static partial int cublasLtMatrixLayoutCreate(out nint layout, CudaDataType type, ulong rows, ulong cols, long ld);

    [LibraryImport(Lib)]
    internal static partial int cublasLtMatrixLayoutDestroy(nint layout);

    [LibraryImport(Lib)]
    internal static partial int cublasLtMatrixLayoutSetAttribute(nint layout, LtLayoutAttribute attribute, void* value, nuint size);

    [LibraryImport(Lib)]
    internal static partial int cublasLtMatmulPreferenceCreate(out nint preference);

    [LibraryImport(Lib)]
    internal static partial int cublasLtMatmulPreferenceDestroy(nint preference);

    [LibraryImport(Lib)]
    internal static partial int cublasLtMatmulPreferenceSetAttribute(nint preference, LtPreferenceAttribute attribute, void* value, nuint size);

    [LibraryImport(Lib)]
    internal static partial int cublasLtMatmulAlgoGetHeuristic(
        nint handle, nint operation, nint aLayout, nint bLayout, nint cLayout, nint dLayout, nint preference,
        int requestedCount, CublasLtHeuristicResult* results, out int returnedCount);

    [LibraryImport(Lib)]
    internal static partial int cublasLtMatmul(
        nint handle, nint operation, float* alpha, ulong a, nint aLayout, ulong b, nint bLayout,
        float* beta, ulong c, nint cLayout, ulong d, nint dLayout,
        CublasLtMatmulAlgo* algorithm, ulong workspace, nuint workspaceBytes, nint stream);
}
