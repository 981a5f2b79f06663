using System.Runtime.CompilerServices;
using CudaI2V.Native.Errors;
using CudaI2V.Native.Loading;

namespace CudaI2V.Native.Blas;

/// <summary>
/// The checked cuBLASLt API: matmul descriptors with an epilogue, matrix layouts (column-major, optionally
/// batched), the algorithm heuristic and cublasLtMatmul. Failures throw <see cref="CudaException"/>.
/// </summary>
public static unsafe class CublasLt
{
    private const string Library = "cuBLASLt";

    /// <summary>Loads cuBLASLt and creates a handle.</summary>
    public static nint Create()
    {
        NativeLibraries.Require(CudaLibrary.CublasLt);
        Check(CublasLtApi.cublasLtCreate(out var handle));
        return handle;
    }

    /// <summary>Destroys a handle; false if cuBLASLt refused.</summary>
    public static bool TryDestroy(nint handle) => CublasLtApi.cublasLtDestroy(handle) == 0;

    /// <summary>cuBLASLt's version, read without a GPU.</summary>
    public static Version LibraryVersion()
    {
        NativeLibraries.Require(CudaLibrary.CublasLt);
        var v = (long)CublasLtApi.cublasLtGetVersion();
        return new Version((int)(v / 10000), (int)(v % 10000 / 100), (int)(v % 100));
    }

    /// <summary>
    /// A matmul descriptor: fp32 compute and scale, the two transposes, an epilogue and its bias vector (or 0).
    /// SAFETY (all attribute setters here): cuBLASLt copies the value behind the pointer, of the stated size, before returning.
    /// </summary>
    public static nint CreateMatmul(CublasOperation transA, CublasOperation transB, CublasLtEpilogue epilogue, ulong bias)
    {
        Check(CublasLtApi.cublasLtMatmulDescCreate(out var desc, CublasComputeType.Compute32F, CudaDataType.F32));
        try
        {
            Check(CublasLtApi.cublasLtMatmulDescSetAttribute(desc, LtMatmulDescAttribute.TransA, &transA, sizeof(int)));
            Check(CublasLtApi.cublasLtMatmulDescSetAttribute(desc, LtMatmulDescAttribute.TransB, &transB, sizeof(int)));
            Check(CublasLtApi.cublasLtMatmulDescSetAttribute(desc, LtMatmulDescAttribute.Epilogue, &epilogue, sizeof(int)));
            if (bias != 0)
            {
                Check(CublasLtApi.cublasLtMatmulDescSetAttribute(desc, LtMatmulDescAttribute.BiasPointer, &bias, sizeof(ulong)));
            }

            return desc;
        }
        catch
        {
            TryDestroyMatmul(desc);
            throw;
        }
    }

    /// <summary>Points a matmul descriptor's bias epilogue at a device vector.</summary>
    public static void SetBias(nint desc, ulong bias) =>
        Check(CublasLtApi.cublasLtMatmulDescSetAttribute(desc, LtMatmulDescAttribute.BiasPointer, &bias, sizeof(ulong)));

    /// <summary>Destroys a matmul descriptor; false if cuBLASLt refused.</summary>
    public static bool TryDestroyMatmul(nint desc) => desc == 0 || CublasLtApi.cublasLtMatmulDescDestroy(desc) == 0;

    /// <summary>A column-major layout of rows x cols with leading dimension ld, repeated batchCount times at batchStride elements.</summary>
    public static nint CreateLayout(CudaDataType type, long rows, long cols, long ld, int batchCount = 1, long batchStride = 0)
    {
        Check(CublasLtApi.cublasLtMatrixLayoutCreate(out var layout, type, (ulong)rows, (ulong)cols, ld));
        try
        {
            if (batchCount > 1)
            {
                Check(CublasLtApi.cublasLtMatrixLayoutSetAttribute(layout, LtLayoutAttribute.BatchCount, &batchCount, sizeof(int)));
                Check(CublasLtApi.cublasLtMatrixLayoutSetAttribute(layout, LtLayoutAttribute.StridedBatchOffset, &batchStride, sizeof(long)));
            }

            return layout;
        }
        catch
        {
            TryDestroyLayout(layout);
            throw;
        }
    }

    /// <summary>Destroys a layout; false if cuBLASLt refused.</summary>
    public static bool TryDestroyLayout(nint layout) => layout == 0 || CublasLtApi.cublasLtMatrixLayoutDestroy(layout) == 0;

    /// <summary>
    /// The heuristic's best algorithm for a problem (C and D share a layout) within <paramref name="maxWorkspaceBytes"/>,
    /// or null when cuBLASLt has none for it.
    /// </summary>
    public static CublasLtHeuristicResult? BestAlgorithm(nint handle, nint matmul, nint aLayout, nint bLayout, nint dLayout, long maxWorkspaceBytes)
    {
        Check(CublasLtApi.cublasLtMatmulPreferenceCreate(out var preference));
        try
        {
            var bytes = (ulong)maxWorkspaceBytes;
            Check(CublasLtApi.cublasLtMatmulPreferenceSetAttribute(preference, LtPreferenceAttribute.MaxWorkspaceBytes, &bytes, sizeof(ulong)));
            CublasLtHeuristicResult result;
            Check(CublasLtApi.cublasLtMatmulAlgoGetHeuristic(handle, matmul, aLayout, bLayout, dLayout, dLayout, preference, 1, &result, out var count));
            return count > 0 && result.State == 0 ? result : null;
        }
        finally
        {
            _ = CublasLtApi.cublasLtMatmulPreferenceDestroy(preference);
        }
    }

    /// <summary>
    /// D = alpha op(A) op(B) + beta C, then the epilogue. C and D share one layout; C may be D (in place) or another
    /// matrix (a residual read where it lies, instead of being copied into D first). SAFETY: every pointer must be
    /// valid for its layout and the workspace at least the algorithm's size, until the stream has run the call.
    /// </summary>
    public static void Matmul(
        nint handle, nint matmul, float alpha, ulong a, nint aLayout, ulong b, nint bLayout, float beta, ulong c, ulong d, nint dLayout,
        in CublasLtHeuristicResult algorithm, ulong workspace, long workspaceBytes, nint stream)
    {
        var algo = algorithm.Algo;
        Check(CublasLtApi.cublasLtMatmul(
            handle, matmul, &alpha, a, aLayout, b, bLayout, &beta, c, dLayout, d, dLayout, &algo, workspace, (nuint)workspaceBytes, stream));
    }

    private static void Check(int status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != 0)
        {
            throw new CudaException(Library, call, status, CublasStatusNames.Name(status), CublasStatusNames.Text(status));
        }
    }
}
