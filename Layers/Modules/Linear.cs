using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.Modules;

/// <summary>PyTorch's Linear: <c>x @ weight^T + bias</c>; keys <c>{prefix}.weight</c> [out, in] and <c>{prefix}.bias</c> [out].</summary>
public sealed class Linear
{
    private readonly WeightBinder _w;

    /// <summary>Binds the layer.</summary>
    public Linear(WeightBinder w, string prefix, int inFeatures, int outFeatures, bool bias = true)
    {
        _w = w;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = w.Take($"{prefix}.weight", outFeatures, inFeatures);
        Bias = bias ? w.Take($"{prefix}.bias", outFeatures) : null;
    }

    /// <summary>Input width.</summary>
    public int InFeatures { get; }

    /// <summary>Output width.</summary>
    public int OutFeatures { get; }

    /// <summary>[out, in].</summary>
    public Tensor Weight { get; }

    /// <summary>[out], when the layer has a bias.</summary>
    public Tensor? Bias { get; }

    /// <summary>(..., in) to (..., out), plus an optional residual (..., out).</summary>
    public Tensor Forward(Tensor x, Tensor? residual = null) => _w.Ops.Linear(x, Weight, Bias, residual);
}
