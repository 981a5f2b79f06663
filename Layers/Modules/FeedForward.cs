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
/// <remarks>
/// Every token goes through the layer on its own, so a long sequence is run in chunks of tokens whose widened
/// hidden layer stays under the model's <see cref="LayerChunking.FeedForwardHiddenBytes"/> (<see cref="MaxHiddenBytes"/> unless a
/// request's memory plan chose otherwise), and the chunks' outputs are joined: the same values,
/// without the hidden layer of every token at once (at 704x1280 that layer is the step's largest tensor, 3.4 GiB).
/// </remarks>
public sealed class FeedForward
{
    /// <summary>The most bytes the projection's output (the widened hidden layer) may take at once, by default.</summary>
    public const long MaxHiddenBytes = 256L << 20;

    private readonly WeightBinder _w;
    private readonly Linear _proj;
    private readonly Linear _out;
    private readonly FeedForwardActivation _activation;
    private readonly int _dim;
    private readonly int _hidden;
    private readonly long? _maxHiddenBytes;

    /// <summary>
    /// Binds the layer; <paramref name="maxHiddenBytes"/> bounds the hidden layer of one chunk of tokens (null: the
    /// binder's <see cref="WeightBinder.Chunking"/>, read at each call).
    /// </summary>
    public FeedForward(WeightBinder w, string prefix, int dim, int inner, FeedForwardActivation activation, long? maxHiddenBytes = null)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxHiddenBytes ?? 1, 1);
        _w = w;
        _maxHiddenBytes = maxHiddenBytes;
        _activation = activation;
        _dim = dim;
        _hidden = activation == FeedForwardActivation.Geglu ? 2 * inner : inner;
        _proj = new Linear(w, $"{prefix}.net.0.proj", dim, _hidden);
        _out = new Linear(w, $"{prefix}.net.2", inner, dim);
    }

    /// <summary>(..., dim) to (..., dim), plus an optional residual.</summary>
    public Tensor Forward(Tensor x, Tensor? residual = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        var tokens = x.Shape.Rank > 0 && x.Shape[^1] == _dim ? x.ElementCount / _dim : 0;
        var chunk = Math.Max(1, (_maxHiddenBytes ?? _w.Chunking.FeedForwardHiddenBytes) / ((long)_hidden * _w.Ops.ActivationDType.SizeOf()));
        if (tokens <= chunk)
        {
            return Apply(x, residual);
        }

        // Tokens as rows; each chunk of rows is a contiguous view.
        var rows = x.Reshape(checked((int)tokens), _dim);
        var residualRows = residual?.Reshape(checked((int)tokens), _dim);
        var parts = new List<Tensor>();
        for (long start = 0; start < tokens; start += chunk)
        {
            int from = (int)start, count = (int)Math.Min(chunk, tokens - start);
            parts.Add(Apply(rows.Slice(0, from, count), residualRows?.Slice(0, from, count)));
        }

        return _w.Ops.Concat(parts, axis: 0).Reshape(x.Shape.Dims.ToArray());
    }

    private Tensor Apply(Tensor x, Tensor? residual)
    {
        var h = _proj.Forward(x);
        h = _activation == FeedForwardActivation.Geglu ? _w.Ops.Geglu(h) : _w.Ops.Gelu(h);
        return _out.Forward(h, residual);
    }
}
