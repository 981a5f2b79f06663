namespace CudaI2V.Kernels;

/// <summary>
/// The families a profile sums op time and FLOPs into, by <see cref="IOps"/> entry name: convolution, attention,
/// normalisation, GEMM (the linear layers) and everything else (activations, adds, layout, resampling).
/// </summary>
public static class OpCategories
{
    /// <summary>Convolutions (2-D and temporal).</summary>
    public const string Convolution = "convolution";

    /// <summary>Attention (scores, softmax, weighted sum).</summary>
    public const string Attention = "attention";

    /// <summary>GroupNorm and LayerNorm.</summary>
    public const string Normalization = "normalization";

    /// <summary>Linear layers.</summary>
    public const string Gemm = "gemm";

    /// <summary>Everything else.</summary>
    public const string Other = "other";

    /// <summary>Every category, in report order.</summary>
    public static IReadOnlyList<string> All { get; } = [Attention, Convolution, Normalization, Gemm, Other];

    /// <summary>The category of the <see cref="IOps"/> entry <paramref name="op"/>.</summary>
    public static string Of(string op) => op switch
    {
        nameof(IOps.Conv2d) or nameof(IOps.TemporalConv) => Convolution,
        nameof(IOps.Attention) => Attention,
        nameof(IOps.GroupNorm) or nameof(IOps.GroupNormSilu) or nameof(IOps.LayerNorm) => Normalization,
        nameof(IOps.Linear) => Gemm,
        _ => Other,
    };
}
