using CudaI2V.Layers.Modules;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.UNet;

/// <summary>
/// diffusers' <c>Transformer2DModel</c> with linear projections and one block (spatial attention): GN (eps
/// 1e-6, per frame-image) -> proj_in -> BasicTransformerBlock (self-attention over the H*W tokens of each
/// frame-image, cross-attention to the context) -> proj_out, plus the input. Channels-last makes the tokens of
/// image n simply the rows of x[n]: no permutes. The images run in chunks of the binder's
/// <see cref="LayerChunking.SpatialImages"/> (the same values: every image attends within itself, to its own context row).
/// </summary>
public sealed class Transformer2DModel
{
    private readonly GroupNorm _norm;
    private readonly Linear _projIn;
    private readonly BasicTransformerBlock _block;
    private readonly Linear _projOut;
    private readonly WeightBinder _w;

    /// <summary>Binds the model.</summary>
    public Transformer2DModel(WeightBinder w, string prefix, int channels, int heads, int headDim, int crossAttentionDim, int groups)
    {
        ArgumentNullException.ThrowIfNull(w);
        _w = w;
        var inner = heads * headDim;
        _norm = new GroupNorm(w, $"{prefix}.norm", groups, channels, 1e-6f);
        _projIn = new Linear(w, $"{prefix}.proj_in", channels, inner);
        _block = new BasicTransformerBlock(w, $"{prefix}.transformer_blocks.0", inner, heads, headDim, crossAttentionDim);
        _projOut = new Linear(w, $"{prefix}.proj_out", inner, channels);
    }

    /// <summary>The block, for tests and for callers that cache the cross-attention context.</summary>
    public BasicTransformerBlock Block => _block;

    /// <summary>x (N, H, W, C), context (N, Lk, crossDim); returns (N, H, W, C). The cache may hold the context's projected keys and values.</summary>
    public Tensor Forward(Tensor x, Tensor context, CrossAttentionCache? cache = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(context);
        var n = x.Shape[0];
        var chunk = context.Shape[0] == n ? _w.Chunking.SpatialImages : n;   // a context shared by every image is not split
        return LayerChunking.ByRows(_w.Ops, n, chunk, (start, count) =>
            count == n ? Apply(x, context, cache) : Apply(x.Slice(0, start, count), context.Slice(0, start, count), cache?.Rows(start, count)));
    }

    private Tensor Apply(Tensor x, Tensor context, CrossAttentionCache? cache)
    {
        int n = x.Shape[0], height = x.Shape[1], width = x.Shape[2], c = x.Shape[3];
        var tokens = _norm.Forward(x).Reshape(n, height * width, c);  // (N, HW, C)
        var h = _projIn.Forward(tokens);                              // (N, HW, inner)
        h = _block.Forward(h, context, cache);
        return _projOut.Forward(h, residual: x.Reshape(n, height * width, c)).Reshape(n, height, width, c);
    }
}
