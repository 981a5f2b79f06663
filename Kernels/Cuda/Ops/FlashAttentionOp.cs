using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda.Ops;

/// <summary>
/// Attention through FlashAttention.cu, one launch per call, where the kernel supports the call
/// (<see cref="FlashAttentionKernel.Unsupported"/>: fp16 or bf16, head dimension 64 or 80, sm_80+, 16-byte
/// aligned); every other call (fp32, the VAE's single 512-channel head, the 4-channel heads of the image-latent
/// encoder, the test models' small heads) goes to the GEMM path it wraps. Selected with
/// <see cref="MatrixOpSet.WithFusedAttention"/>; the GEMM path stays available for comparison.
/// </summary>
public sealed class FlashAttentionOp(GemmSoftmaxAttentionOp? fallback = null) : IAttentionOp
{
    private readonly GemmSoftmaxAttentionOp _fallback = fallback ?? new GemmSoftmaxAttentionOp();

    /// <inheritdoc/>
    public string Name => "flash";

    /// <summary>The op that runs what the kernel does not support.</summary>
    public GemmSoftmaxAttentionOp Fallback => _fallback;

    /// <summary>Whether the kernel takes a call of this shape (the alignment and the device are checked at run time).</summary>
    public static bool Takes(AttentionShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return shape.DType is DType.F16 or DType.BF16 && FlashAttentionKernel.HeadDims.Contains(shape.HeadDim);
    }

    /// <summary>
    /// None for the calls the kernel takes; the GEMM path's for the rest. (On a card older than sm_80 the GEMM path
    /// also runs the calls the kernel would take, chunked to whatever workspace the backend has.)
    /// </summary>
    public long WorkspaceBytes(AttentionShape shape) => Takes(shape) ? 0 : _fallback.WorkspaceBytes(shape);

    /// <inheritdoc/>
    public long MinimumWorkspaceBytes(AttentionShape shape) => Takes(shape) ? 0 : _fallback.MinimumWorkspaceBytes(shape);

    /// <summary>
    /// The steps of the call: one launch of the fused kernel, or the GEMM path's steps when the kernel does not take
    /// it on a device of <paramref name="architecture"/>.
    /// </summary>
    public IEnumerable<OpStep> Steps(AttentionArgs args, Tensor workspace, int architecture)
    {
        var shape = GemmSoftmaxAttentionOp.Check(args);
        if (FlashAttentionKernel.Unsupported(args, shape, architecture) is not null)
        {
            return _fallback.Plan(args, workspace).Steps;
        }

        return FlashAttentionKernel.Plan(args, shape) is { } launch
            ? [new LaunchStep<FlashAttentionParams>(launch)]
            : [];
    }

    /// <inheritdoc/>
    public void Run(CudaOpContext context, AttentionArgs args, Tensor workspace)
    {
        ArgumentNullException.ThrowIfNull(context);
        foreach (var step in Steps(args, workspace, context.Kernels.DeviceArchitecture))
        {
            step.Execute(context);
        }
    }
}
