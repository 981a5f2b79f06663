using CudaI2V.Native.Blas;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Runtime.Blas;

/// <summary>
/// GEMMs through cuBLAS (<c>cublasGemmEx</c>, <c>cublasGemmStridedBatchedEx</c>) on row-major device tensors: fp16,
/// bf16 or fp32 in, fp32 accumulation (true fp32 for fp32 inputs, not TF32: the handle keeps cuBLAS's default math
/// mode), the input type or fp32 out. The handle is bound to one stream and given its own workspace, so
/// GEMMs can be captured into a CUDA graph (cuBLAS then allocates nothing). Not thread-safe: one per stream.
/// </summary>
public sealed class CublasGemm : IDisposable
{
    /// <summary>The workspace size cuBLAS recommends for Hopper (32 MiB).</summary>
    public const long DefaultWorkspaceBytes = 32L << 20;

    private readonly CublasHandle _handle;
    private readonly DeviceAllocation _workspace;

    /// <summary>A cuBLAS handle on <paramref name="stream"/> with <paramref name="workspaceBytes"/> of workspace.</summary>
    public CublasGemm(CudaStream stream, long workspaceBytes = DefaultWorkspaceBytes)
    {
        ArgumentNullException.ThrowIfNull(stream);
        stream.Context.MakeCurrent();
        Stream = stream;
        _workspace = DeviceMemory.Allocate(stream.Context, workspaceBytes);
        try
        {
            _handle = new CublasHandle(Cublas.Create());
            Cublas.SetStream(_handle.Value, stream.Handle);
            Cublas.SetWorkspace(_handle.Value, _workspace.Address, workspaceBytes);
        }
        catch
        {
            _handle?.Dispose();
            _workspace.Dispose();
            throw;
        }
    }

    /// <summary>The stream the GEMMs are enqueued on.</summary>
    public CudaStream Stream { get; }

    /// <summary>
    /// Enqueues <c>C = alpha op(A) op(B) + beta C</c> (see <see cref="GemmProblem"/> for shapes; an
    /// <see cref="ArgumentException"/> shows them when they do not fit).
    /// </summary>
    public void MatMul(Tensor a, Tensor b, Tensor c, bool transposeA = false, bool transposeB = false, float alpha = 1f, float beta = 0f)
    {
        var p = GemmProblem.Create(a, b, c, transposeA, transposeB);
        var (pa, pb, pc) = (Address(a, p.A, "A"), Address(b, p.B, "B"), Address(c, p.C, "C"));
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        Stream.Context.MakeCurrent();
        var first = new BlasMatrix(pb, GemmProblem.BlasType(p.B.DType), (int)p.B.LeadingDimension, p.B.BatchStride);
        var second = new BlasMatrix(pa, GemmProblem.BlasType(p.A.DType), (int)p.A.LeadingDimension, p.A.BatchStride);
        var result = new BlasMatrix(pc, GemmProblem.BlasType(p.C.DType), (int)p.C.LeadingDimension, p.C.BatchStride);
        if (p.Batch == 1)
        {
            Cublas.Gemm(_handle.Value, p.CublasTransA, p.CublasTransB, p.N, p.M, p.K, alpha, first, second, beta, result);
        }
        else
        {
            Cublas.GemmStridedBatched(_handle.Value, p.CublasTransA, p.CublasTransB, p.N, p.M, p.K, alpha, first, second, beta, result, p.Batch);
        }
    }

    /// <summary>Destroys the handle and frees the workspace. Never throws.</summary>
    public void Dispose()
    {
        Stream.Context.TryMakeCurrent();
        _handle.Dispose();
        _workspace.Dispose();
    }

    /// <summary>The operand's device address, after checking that every element it reaches lies inside its storage.</summary>
    internal static ulong Address(Tensor t, GemmOperand operand, string name)
    {
        var address = t.DeviceAddress(name);
        var batch = t.Shape.Rank == 3 ? t.Shape[0] : 1;
        var elements = ((batch - 1) * operand.BatchStride) + ((t.Shape[^2] - 1) * operand.LeadingDimension) + t.Shape[^1];
        ((DeviceStorage)t.Storage).AddressOf(t.ByteOffset, elements * t.DType.SizeOf());
        return address;
    }
}
