using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.Modules;

/// <summary>
/// diffusers' <c>Attention</c> with its default processor: q = to_q(x), k = to_k(ctx), v = to_v(ctx) (ctx = x
/// for self-attention), softmax(q k^T / sqrt(d)) v per head, then to_out.0. Keys <c>{prefix}.to_q</c>,
/// <c>to_k</c>, <c>to_v</c> (bias only where <c>qkvBias</c>) and <c>{prefix}.to_out.0</c> (with bias).
/// </summary>
public sealed class Attention
{
    private readonly WeightBinder _w;
    private readonly Linear _toQ;
    private readonly Linear _toK;
    private readonly Linear _toV;
    private readonly Linear _toOut;

    /// <summary>Binds the layer.</summary>
    /// <param name="w">Weights.</param>
    /// <param name="prefix">Key prefix.</param>
    /// <param name="queryDim">Width of x.</param>
    /// <param name="contextDim">Width of the context (queryDim for self-attention).</param>
    /// <param name="heads">Head count.</param>
    /// <param name="headDim">Head dimension; inner width = heads * headDim.</param>
    /// <param name="qkvBias">to_q/to_k/to_v have biases (the VAE's do; the UNet's and CLIP's differ).</param>
    /// <param name="outDim">Width of the output (queryDim when null).</param>
    public Attention(WeightBinder w, string prefix, int queryDim, int contextDim, int heads, int headDim, bool qkvBias = false, int? outDim = null)
    {
        _w = w;
        Heads = heads;
        var inner = heads * headDim;
        _toQ = new Linear(w, $"{prefix}.to_q", queryDim, inner, qkvBias);
        _toK = new Linear(w, $"{prefix}.to_k", contextDim, inner, qkvBias);
        _toV = new Linear(w, $"{prefix}.to_v", contextDim, inner, qkvBias);
        _toOut = new Linear(w, $"{prefix}.to_out.0", inner, outDim ?? queryDim);
    }

    /// <summary>Head count.</summary>
    public int Heads { get; }

    /// <summary>x (B, Lq, queryDim), context (B, Lk, contextDim) or null for self-attention; returns (B, Lq, out), plus an optional residual.</summary>
    public Tensor Forward(Tensor x, Tensor? context = null, Tensor? residual = null)
    {
        var source = context ?? x;
        var q = _toQ.Forward(x);                       // (B, Lq, inner)
        var k = _toK.Forward(source);                  // (B, Lk, inner)
        var v = _toV.Forward(source);                  // (B, Lk, inner)
        var o = _w.Ops.Attention(q, k, v, Heads);      // (B, Lq, inner)
        return _toOut.Forward(o, residual);            // (B, Lq, out)
    }

    /// <summary>
    /// Projects a constant context to keys and values once, so a caller that sees the same context every
    /// step can keep them (the cross-attention of the 145 context tokens).
    /// </summary>
    public (Tensor K, Tensor V) ProjectContext(Tensor context) => (_toK.Forward(context), _toV.Forward(context));

    /// <summary>Attention with keys and values from <see cref="ProjectContext"/>.</summary>
    public Tensor Forward(Tensor x, (Tensor K, Tensor V) projected, Tensor? residual = null)
    {
        var q = _toQ.Forward(x);
        return _toOut.Forward(_w.Ops.Attention(q, projected.K, projected.V, Heads), residual);
    }
}
