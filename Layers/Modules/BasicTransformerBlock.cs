using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.Modules;

/// <summary>
/// diffusers' <c>BasicTransformerBlock</c> (layer_norm type, GEGLU feed-forward, no attention bias):
/// h = attn1(norm1(h)) + h; h = attn2(norm2(h), context) + h; h = ff(norm3(h)) + h. With no cross-attention
/// dimension (<c>double_self_attention</c>, the temporal transformers) attn2 is a second self-attention.
/// </summary>
public sealed class BasicTransformerBlock
{
    private readonly LayerNorm _norm1;
    private readonly LayerNorm _norm2;
    private readonly LayerNorm _norm3;
    private readonly Attention _attn1;
    private readonly Attention _attn2;
    private readonly FeedForward _ff;

    /// <summary>Binds the block.</summary>
    /// <param name="w">Weights.</param>
    /// <param name="prefix">Key prefix (…transformer_blocks.0).</param>
    /// <param name="dim">Token width.</param>
    /// <param name="heads">Heads.</param>
    /// <param name="headDim">Head dimension.</param>
    /// <param name="crossAttentionDim">Width of the context for attn2, or null for a second self-attention.</param>
    public BasicTransformerBlock(WeightBinder w, string prefix, int dim, int heads, int headDim, int? crossAttentionDim)
    {
        _norm1 = new LayerNorm(w, $"{prefix}.norm1", dim, 1e-5f);
        _attn1 = new Attention(w, $"{prefix}.attn1", dim, dim, heads, headDim);
        _norm2 = new LayerNorm(w, $"{prefix}.norm2", dim, 1e-5f);
        _attn2 = new Attention(w, $"{prefix}.attn2", dim, crossAttentionDim ?? dim, heads, headDim);
        _norm3 = new LayerNorm(w, $"{prefix}.norm3", dim, 1e-5f);
        _ff = new FeedForward(w, $"{prefix}.ff", dim, 4 * dim, FeedForwardActivation.Geglu);
    }

    /// <summary>The cross-attention, whose constant context a caller may project once.</summary>
    public Attention CrossAttention => _attn2;

    /// <summary>
    /// h (B, L, dim); context (B, Lk, crossDim) or null for the self-attention variant. With a
    /// <paramref name="cache"/> holding this block's cross-attention, its kept keys and values are used instead of
    /// projecting the context again.
    /// </summary>
    public Tensor Forward(Tensor h, Tensor? context, CrossAttentionCache? cache = null)
    {
        h = _attn1.Forward(_norm1.Forward(h), null, residual: h);   // (B, L, dim)
        h = context is not null && cache is not null && cache.TryGet(_attn2, out var projected)
            ? _attn2.Forward(_norm2.Forward(h), projected, residual: h)
            : _attn2.Forward(_norm2.Forward(h), context, residual: h);
        return _ff.Forward(_norm3.Forward(h), residual: h);
    }
}
