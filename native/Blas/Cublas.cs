using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using CudaI2V.Native.Errors;
using CudaI2V.Native.Loading;

namespace CudaI2V.Native.Blas;

/// <summary>One column-major operand of a cuBLAS GEMM: device pointer, element type, leading dimension, batch stride.</summary>
/// <param name="Address">Device address of the first element.</param>
/// <param name="Type">Element type.</param>
/// <param name="LeadingDimension">Elements between consecutive columns (column-major).</param>
/// <param name="BatchStride">Elements between consecutive matrices of a batch (0 repeats one matrix).</param>
public readonly record struct BlasMatrix(ulong Address, CudaDataType Type, int LeadingDimension, long BatchStride = 0);

/// <summary>
/// The checked cuBLAS API (GEMMs with fp32 accumulation, cuBLAS's default algorithm choice). Failures throw
/// <see cref="CudaException"/> naming the call and cuBLAS's status.
/// </summary>
public static unsafe class Cublas
{
    private const string Library = "cuBLAS";

    /// <summary>Loads cuBLAS (after cuBLASLt) and creates a handle on the current context.</summary>
    public static nint Create()
    {
        NativeLibraries.Require(CudaLibrary.Cublas);
        Check(CublasApi.cublasCreate_v2(out var handle));
        return handle;
    }

    /// <summary>Destroys a handle; false if cuBLAS refused.</summary>
    public static bool TryDestroy(nint handle) => CublasApi.cublasDestroy_v2(handle) == 0;

    /// <summary>cuBLAS's version, read without a GPU.</summary>
    public static Version LibraryVersion()
    {
        NativeLibraries.Require(CudaLibrary.Cublas);
        Check(CublasApi.cublasGetProperty(0, out var major));
        Check(CublasApi.cublasGetProperty(1, out var minor));
        Check(CublasApi.cublasGetProperty(2, out var patch));
        return new Version(major, minor, patch);
    }

    /// <summary>Makes the handle enqueue its work on <paramref name="stream"/>.</summary>
    public static void SetStream(nint handle, nint stream) => Check(CublasApi.cublasSetStream_v2(handle, stream));

    /// <summary>
    /// Gives the handle its own workspace, so cuBLAS allocates nothing while a stream is captured into a graph.
    /// SAFETY: the memory must outlive every GEMM enqueued with this handle.
    /// </summary>
    public static void SetWorkspace(nint handle, ulong workspace, long bytes) =>
        Check(CublasApi.cublasSetWorkspace_v2(handle, workspace, (nuint)bytes));

    /// <summary>
    /// C = alpha op(A) op(B) + beta C, column-major, m x n with inner size k, fp32 accumulation. SAFETY: alpha and
    /// beta are read through pointers to this frame before the call returns (pointer mode host); the device pointers
    /// must cover their operands until the stream has run the GEMM.
    /// </summary>
    public static void Gemm(
        nint handle, CublasOperation transA, CublasOperation transB, int m, int n, int k, float alpha, BlasMatrix a, BlasMatrix b, float beta, BlasMatrix c) =>
        Check(CublasApi.cublasGemmEx(
            handle, transA, transB, m, n, k,
            &alpha, a.Address, a.Type, a.LeadingDimension,
            b.Address, b.Type, b.LeadingDimension,
            &beta, c.Address, c.Type, c.LeadingDimension,
            CublasComputeType.Compute32F, -1));

    /// <summary><see cref="Gemm"/> over <paramref name="batchCount"/> matrices at the operands' batch strides.</summary>
    public static void GemmStridedBatched(
        nint handle, CublasOperation transA, CublasOperation transB, int m, int n, int k, float alpha, BlasMatrix a, BlasMatrix b, float beta, BlasMatrix c, int batchCount) =>
        Check(CublasApi.cublasGemmStridedBatchedEx(
            handle, transA, transB, m, n, k,
            &alpha, a.Address, a.Type, a.LeadingDimension, a.BatchStride,
            b.Address, b.Type, b.LeadingDimension, b.BatchStride,
            &beta, c.Address, c.Type, c.LeadingDimension, c.BatchStride,
            batchCount, CublasComputeType.Compute32F, -1));

    internal static void Check(int status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != 0)
        {
            throw new CudaException(Library, call, status, CublasStatusNames.Name(status), StatusString(status));
        }
    }

    private static string StatusString(int status)
    {
        try
        {
            return Marshal.PtrToStringUTF8(CublasApi.cublasGetStatusString(status)) ?? CublasStatusNames.Text(status);
        }
        catch (EntryPointNotFoundException)
        {
            return CublasStatusNames.Text(status);
        }
    }
}
