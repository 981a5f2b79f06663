using CudaI2V.Layers.Modules;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.UNet;

/// <summary>
/// A two-layer MLP with SiLU between: diffusers' <c>TimestepEmbedding</c> (keys <c>linear_1</c>, <c>linear_2</c>)
/// and the UNet's Sequential embeddings <c>fps_embedding</c> and <c>context_embedding</c> (keys <c>0</c>, <c>2</c>).
/// </summary>
public sealed class EmbeddingMlp
{
    private readonly WeightBinder _w;
    private readonly Linear _first;
    private readonly Linear _second;

    /// <summary>Binds the MLP; <paramref name="firstKey"/>/<paramref name="secondKey"/> are the two layers' names under the prefix.</summary>
    public EmbeddingMlp(WeightBinder w, string prefix, string firstKey, string secondKey, int inFeatures, int hidden, int outFeatures)
    {
        _w = w;
        _first = new Linear(w, $"{prefix}.{firstKey}", inFeatures, hidden);
        _second = new Linear(w, $"{prefix}.{secondKey}", hidden, outFeatures);
    }

    /// <summary>diffusers' <c>TimestepEmbedding</c> (linear_1, SiLU, linear_2).</summary>
    public static EmbeddingMlp TimestepEmbedding(WeightBinder w, string prefix, int inFeatures, int timeEmbedDim) =>
        new(w, prefix, "linear_1", "linear_2", inFeatures, timeEmbedDim, timeEmbedDim);

    /// <summary>A Sequential(Linear, SiLU, Linear) with keys 0 and 2.</summary>
    public static EmbeddingMlp Sequential(WeightBinder w, string prefix, int inFeatures, int hidden, int outFeatures) =>
        new(w, prefix, "0", "2", inFeatures, hidden, outFeatures);

    /// <summary>(..., in) to (..., out).</summary>
    public Tensor Forward(Tensor x) => _second.Forward(_w.Ops.Silu(_first.Forward(x)));
}

/// <summary>
/// diffusers' <c>I2VGenXLTransformerTemporalEncoder</c> on the image latents' frame sequences: x = attn1(norm1(x))
/// + x, then x = ff(x) + x with no norm before the feed-forward (GELU with erf).
/// </summary>
public sealed class I2VGenXLTransformerTemporalEncoder
{
    private readonly LayerNorm _norm1;
    private readonly Attention _attn1;
    private readonly FeedForward _ff;

    /// <summary>Binds the encoder: dim = in_channels, heads 2, head dim = dim, feed-forward width 4 * dim.</summary>
    public I2VGenXLTransformerTemporalEncoder(WeightBinder w, string prefix, int dim, int heads, int headDim, int ffInner)
    {
        _norm1 = new LayerNorm(w, $"{prefix}.norm1", dim, 1e-5f);
        _attn1 = new Attention(w, $"{prefix}.attn1", dim, dim, heads, headDim);
        _ff = new FeedForward(w, $"{prefix}.ff", dim, ffInner, FeedForwardActivation.Gelu);
    }

    /// <summary>x (S, F, dim) to the same shape.</summary>
    public Tensor Forward(Tensor x)
    {
        x = _attn1.Forward(_norm1.Forward(x), null, residual: x);
        return _ff.Forward(x, residual: x);
    }
}
