using CudaI2V.Layers.Modules;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.UNet;

/// <summary>
/// diffusers' <c>Transformer2DModel</c> with linear projections and one block (spatial attention): GN (eps
/// 1e-6, per frame-image) -> proj_in -> BasicTransformerBlock (self-attention over the H*W tokens of each
/// frame-image, cross-attention to the context) -> proj_out, plus the input. Channels-last makes the tokens of
/// image n simply the rows of x[n]: no permutes. The context has one row per image or one per group of consecutive
/// images (a video's frames share its context row). The images run in chunks of at most the binder's
/// <see cref="LayerChunking.SpatialImages"/> that never split a context row's group between chunks unless the group
/// is larger than a chunk, and then a chunk lies within one group (the same values: every image attends within
/// itself, to its own context row).
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

    /// <summary>
    /// x (N, H, W, C), context (N / g, Lk, crossDim) for g consecutive images per context row (g = 1: a row per
    /// image; g = frames: a row per video); returns (N, H, W, C). The cache may hold the context's projected keys and
    /// values, with the context's rows.
    /// </summary>
    public Tensor Forward(Tensor x, Tensor context, CrossAttentionCache? cache = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(context);
        var n = x.Shape[0];
        if (context.Shape.Rank != 3 || context.Shape[0] < 1 || n % context.Shape[0] != 0)
        {
            throw new ArgumentException(
                $"The cross-attention context {context.Shape} must be (N / g, Lk, crossDim) with its rows dividing the {n} images of x {x.Shape}: one row per image or per video.",
                nameof(context));
        }

        var group = Math.Max(1, n / context.Shape[0]);
        return LayerChunking.ByGroups(_w.Ops, n, _w.Chunking.SpatialImages, group, (start, count) =>
        {
            if (count == n)
            {
                return Apply(x, context, cache);
            }

            // The chunk is whole groups, or part of one group: its context rows are those groups' rows.
            var (row, rows) = (start / group, Math.Max(1, count / group));
            return Apply(x.Slice(0, start, count), context.Slice(0, row, rows), cache?.Rows(row, rows));
        });
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
