using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda.Ops;

/// <summary>Carving typed views out of a caller's workspace, and the argument checks the op implementations share.</summary>
internal static class OpArguments
{
    /// <summary>Alignment of each region carved from a workspace (the arena's, and what cuBLAS's fast paths want).</summary>
    public const long Alignment = 256;

    /// <summary><paramref name="bytes"/> rounded up to <see cref="Alignment"/>.</summary>
    public static long Align(long bytes) => (bytes + Alignment - 1) / Alignment * Alignment;

    /// <summary>A contiguous view of <paramref name="dims"/> at <paramref name="byteOffset"/> bytes into the workspace.</summary>
    public static Tensor View(Tensor workspace, long byteOffset, DType dtype, params int[] dims) =>
        Tensor.View(workspace.Storage, workspace.ByteOffset + byteOffset, dtype, new TensorShape(dims));

    /// <summary>Checks that the workspace is a contiguous device tensor and returns its size in bytes.</summary>
    public static long WorkspaceBytes(string op, Tensor workspace)
    {
        ArgumentNullException.ThrowIfNull(workspace);
        _ = workspace.DeviceAddress(nameof(workspace));
        if (!workspace.IsContiguous)
        {
            throw OpShapes.Fail(op, $"the workspace must be a contiguous device tensor, got a strided {workspace.DType} view of shape {workspace.Shape}.");
        }

        return workspace.ByteLength;
    }

    /// <summary>Checks that a tensor argument is a contiguous device tensor of <paramref name="dtype"/> (null passes).</summary>
    public static void RequireDevice(string op, string name, Tensor? t, DType dtype)
    {
        if (t is null)
        {
            return;
        }

        _ = t.DeviceAddress(name);
        if (t.DType != dtype || !t.IsContiguous)
        {
            throw OpShapes.Fail(op, $"{name} must be a contiguous {dtype} device tensor, got {t.DType} {t.Shape}{(t.IsContiguous ? "" : " (strided)")}.");
        }
    }

    /// <summary>
    /// The dtype the GEMM-based ops take, read from their first input: F16, BF16 or F32 (the storage types cuBLAS
    /// multiplies here, all with fp32 accumulation; F32 is true fp32, not TF32).
    /// </summary>
    public static DType RequireGemmDType(string op, Tensor x)
    {
        if (x.DType is not (DType.F16 or DType.BF16 or DType.F32))
        {
            throw OpShapes.Fail(op, $"takes F16, BF16 or F32 tensors (the GEMMs' inputs), got {x.DType} {x.Shape}.");
        }

        return x.DType;
    }

    /// <summary>
    /// Checks the tensors of a GEMM-based op: the first one's dtype is one the GEMMs take (<see cref="RequireGemmDType"/>),
    /// and every one (nulls pass) is a contiguous device tensor of that dtype. Returns the dtype.
    /// </summary>
    public static DType RequireGemmOperands(string op, params (Tensor? Tensor, string Name)[] operands)
    {
        ArgumentNullException.ThrowIfNull(operands);
        var dtype = RequireGemmDType(op, operands[0].Tensor ?? throw new ArgumentNullException(operands[0].Name));
        foreach (var (t, name) in operands)
        {
            RequireDevice(op, name, t, dtype);
        }

        return dtype;
    }

    /// <summary>
    /// Refuses an output that shares bytes with an input the op may read after writing part of the output (both
    /// contiguous, so each is one address range).
    /// </summary>
    public static void RequireDisjoint(string op, Tensor output, Tensor input, string name)
    {
        var (a0, a1) = Range(output);
        var (b0, b1) = Range(input);
        if (a0 < b1 && b0 < a1)
        {
            throw OpShapes.Fail(op, $"the output {output.Shape} overlaps {name} {input.Shape}; it must be a separate buffer.");
        }
    }

    /// <summary>Refuses an output overlapping an input; the residual may be the output itself but not overlap it otherwise.</summary>
    public static void RequireSeparateOutput(string op, Tensor output, Tensor? residual, params (Tensor? Tensor, string Name)[] inputs)
    {
        foreach (var (t, name) in inputs)
        {
            if (t is not null)
            {
                OpArguments.RequireDisjoint(op, output, t, name);
            }
        }

        if (residual is not null && !OpArguments.SameBytes(output, residual))
        {
            OpArguments.RequireDisjoint(op, output, residual, "residual");
        }
    }

    /// <summary>True when two contiguous tensors are the same bytes (an in-place residual).</summary>
    public static bool SameBytes(Tensor a, Tensor b) => a.DeviceAddress() == b.DeviceAddress() && a.ByteLength == b.ByteLength;

    private static (ulong Begin, ulong End) Range(Tensor t)
    {
        var begin = t.DeviceAddress();
        return (begin, begin + (ulong)t.ByteLength);
    }
}
