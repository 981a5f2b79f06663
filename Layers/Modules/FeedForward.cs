using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.Modules;

/// <summary>How a <see cref="FeedForward"/> activates its hidden layer.</summary>
public enum FeedForwardActivation
{
    /// <summary>GEGLU: net.0.proj widens to 2 * inner; first half value, second half gate, value * GELU(gate).</summary>
    Geglu,

    /// <summary>GELU (exact, erf): net.0.proj widens to inner.</summary>
    Gelu,
}

/// <summary>
/// diffusers' <c>FeedForward</c>: <c>net.0.proj</c> (the activation's projection), the activation, then
/// <c>net.2</c> back to the input width (net.1 is dropout, inactive at inference).
/// </summary>
public sealed class FeedForward
{
    private readonly WeightBinder _w;
    private readonly Linear _proj;
    private readonly Linear _out;
    private readonly FeedForwardActivation _activation;

    /// <summary>Binds the layer.</summary>
    public FeedForward(WeightBinder w, string prefix, int dim, int inner, FeedForwardActivation activation)
    {
        _w = w;
        _activation = activation;
        _proj = new Linear(w, $"{prefix}.net.0.proj", dim, activation == FeedForwardActivation.Geglu ? 2 * inner : inner);
        _out = new Linear(w, $"{prefix}.net.2", inner, dim);
    }

    /// <summary>(..., dim) to (..., dim), plus an optional residual.</summary>
    public Tensor Forward(Tensor x, Tensor? residual = null)
    {
        var h = _proj.Forward(x);
        h = _activation == FeedForwardActivation.Geglu ? _w.Ops.Geglu(h) : _w.Ops.Gelu(h);
        return _out.Forward(h, residual);
    }
}
