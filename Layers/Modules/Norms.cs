using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.Modules;

/// <summary>
/// PyTorch's GroupNorm (affine) on channels-last tensors; keys <c>{prefix}.weight</c> and <c>{prefix}.bias</c> [C].
/// With <c>frames</c> &gt; 1 the statistics span all frames of a video, as GroupNorm does on diffusers' 5-D
/// (B, C, F, H, W) tensors.
/// </summary>
public sealed class GroupNorm
{
    private readonly WeightBinder _w;
    private readonly Tensor _gamma;
    private readonly Tensor _beta;

    /// <summary>Binds the layer.</summary>
    public GroupNorm(WeightBinder w, string prefix, int groups, int channels, float eps)
    {
        _w = w;
        Groups = groups;
        Eps = eps;
        _gamma = w.Take($"{prefix}.weight", channels);
        _beta = w.Take($"{prefix}.bias", channels);
    }

    /// <summary>Number of groups.</summary>
    public int Groups { get; }

    /// <summary>Variance epsilon.</summary>
    public float Eps { get; }

    /// <summary>Normalises (N, ..., C); optionally applies SiLU (the fused entry).</summary>
    public Tensor Forward(Tensor x, int frames = 1, bool silu = false) => silu
        ? _w.Ops.GroupNormSilu(x, Groups, _gamma, _beta, Eps, frames)
        : _w.Ops.GroupNorm(x, Groups, _gamma, _beta, Eps, frames);
}

/// <summary>PyTorch's LayerNorm over the last axis; keys <c>{prefix}.weight</c> and <c>{prefix}.bias</c> [C].</summary>
public sealed class LayerNorm
{
    private readonly WeightBinder _w;
    private readonly Tensor _gamma;
    private readonly Tensor _beta;
    private readonly float _eps;

    /// <summary>Binds the layer.</summary>
    public LayerNorm(WeightBinder w, string prefix, int channels, float eps)
    {
        _w = w;
        _eps = eps;
        _gamma = w.Take($"{prefix}.weight", channels);
        _beta = w.Take($"{prefix}.bias", channels);
    }

    /// <summary>(..., C) normalised over C.</summary>
    public Tensor Forward(Tensor x) => _w.Ops.LayerNorm(x, _gamma, _beta, _eps);
}
