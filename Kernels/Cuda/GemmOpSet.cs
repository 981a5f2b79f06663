namespace CudaI2V.Kernels.Cuda;

/// <summary>
/// The GEMM-based op implementations a CUDA backend runs, one per <see cref="IOps"/> entry they serve. Each member can be
/// replaced by a faster implementation of the same interface and switched back for comparison on the same card.
/// </summary>
/// <param name="Conv2d">Serves <see cref="IOps.Conv2d"/>.</param>
/// <param name="TemporalConv">Serves <see cref="IOps.TemporalConv"/>.</param>
/// <param name="Linear">Serves <see cref="IOps.Linear"/>.</param>
/// <param name="Attention">Serves <see cref="IOps.Attention"/>.</param>
public sealed record GemmOpSet(IConv2dOp Conv2d, ITemporalConvOp TemporalConv, ILinearOp Linear, IAttentionOp Attention)
{
    /// <summary>The simple, clearly correct implementations: im2col + cuBLAS convolutions, cuBLAS(Lt) linear layers, batched-GEMM attention.</summary>
    public static GemmOpSet Reference()
    {
        var conv = new Im2colConv2dOp();
        return new GemmOpSet(conv, new TemporalConvAsConv2dOp(conv), new BlasLinearOp(), new GemmSoftmaxAttentionOp());
    }
}
