namespace CudaI2V.Kernels.Cuda.Ops;

/// <summary>
/// The implementations a CUDA backend runs for the ops whose work is matrix products (convolution, temporal
/// convolution, linear layers, attention), one per <see cref="IOps"/> entry they serve: cuBLAS GEMMs with small
/// kernels around them (<see cref="Reference"/>), or a fused kernel where one exists (the attention of
/// <see cref="WithFusedAttention"/>). Each member can be replaced by a faster implementation of the same interface and
/// switched back for comparison on the same card.
/// </summary>
/// <param name="Conv2d">Serves <see cref="IOps.Conv2d"/>.</param>
/// <param name="TemporalConv">Serves <see cref="IOps.TemporalConv"/>.</param>
/// <param name="Linear">Serves <see cref="IOps.Linear"/>.</param>
/// <param name="Attention">Serves <see cref="IOps.Attention"/>.</param>
public sealed record MatrixOpSet(IConv2dOp Conv2d, ITemporalConvOp TemporalConv, ILinearOp Linear, IAttentionOp Attention)
{
    /// <summary>The simple, clearly correct implementations: im2col + cuBLAS convolutions, cuBLAS(Lt) linear layers, batched-GEMM attention.</summary>
    public static MatrixOpSet Reference()
    {
        var conv = new Im2colConv2dOp();
        return new MatrixOpSet(conv, new TemporalConvAsConv2dOp(conv), new BlasLinearOp(), new GemmSoftmaxAttentionOp());
    }

    /// <summary>This set with attention through FlashAttention.cu where it applies (<see cref="FlashAttentionOp"/>).</summary>
    public MatrixOpSet WithFusedAttention() => this with { Attention = new FlashAttentionOp() };

    /// <summary>
    /// The attention implementation a backend runs unless told otherwise ("gemm" or "flash"): the fused kernel, which
    /// on an H200 (2026-11-26) passed every attention test and cut the release UNet step from 371 to 300 ms at
    /// 512x512 and from 2752 to 1296 ms at 704x1280 (docs/performance.md).
    /// </summary>
    public const string DefaultAttention = "flash";

    /// <summary>The words <see cref="ForAttention"/> accepts.</summary>
    public static IReadOnlyList<string> AttentionNames { get; } = ["gemm", "flash"];

    /// <summary>The set a backend runs unless told otherwise: <see cref="Reference"/> with <see cref="DefaultAttention"/>.</summary>
    public static MatrixOpSet Default() => ForAttention(DefaultAttention);

    /// <summary>The set named by <paramref name="attention"/>: "gemm" (<see cref="Reference"/>) or "flash" (<see cref="WithFusedAttention"/>).</summary>
    public static MatrixOpSet ForAttention(string attention) => attention switch
    {
        "gemm" => Reference(),
        "flash" => Reference().WithFusedAttention(),
        _ => throw new ArgumentException($"Unknown attention implementation '{attention}'; use gemm or flash.", nameof(attention)),
    };
}
