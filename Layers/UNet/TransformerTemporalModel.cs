using CudaI2V.Layers.Modules;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.UNet;

/// <summary>
/// diffusers' <c>TransformerTemporalModel</c>: GN (eps 1e-6, statistics over all frames of a video) -> each
/// pixel's frames become a sequence (B*H*W, F, C) -> proj_in -> BasicTransformerBlock with two
/// self-attentions over the F frames (double_self_attention, no context, no positional embedding) ->
/// proj_out -> back to images, plus the input. Past the norm the sequences run in chunks as large as the
/// binder's <see cref="LayerChunking.SpatialImages"/> frames hold (the same values: each sequence is its own).
/// </summary>
public sealed class TransformerTemporalModel
{
    private readonly WeightBinder _w;
    private readonly GroupNorm _norm;
    private readonly Linear _projIn;
    private readonly BasicTransformerBlock _block;
    private readonly Linear _projOut;

    /// <summary>Binds the model.</summary>
    public TransformerTemporalModel(WeightBinder w, string prefix, int channels, int heads, int headDim, int groups)
    {
        _w = w;
        var inner = heads * headDim;
        _norm = new GroupNorm(w, $"{prefix}.norm", groups, channels, 1e-6f);
        _projIn = new Linear(w, $"{prefix}.proj_in", channels, inner);
        _block = new BasicTransformerBlock(w, $"{prefix}.transformer_blocks.0", inner, heads, headDim, crossAttentionDim: null);
        _projOut = new Linear(w, $"{prefix}.proj_out", inner, channels);
    }

    /// <summary>The block, for tests.</summary>
    public BasicTransformerBlock Block => _block;

    /// <summary>x (B*F, H, W, C) to the same shape.</summary>
    public Tensor Forward(Tensor x, int frames)
    {
        int height = x.Shape[1], width = x.Shape[2];
        var ops = _w.Ops;
        var sequences = ops.FramesToSequences(_norm.Forward(x, frames), frames); // (B*H*W, F, C)
        var rows = sequences.Shape[0];

        // Each pixel's sequence is its own past the norm: with the spatial layers in chunks of k frames, the sequences run
        // in chunks of the same tokens (k * H * W / F sequences), so the temporal layers hold no more than the spatial ones.
        var images = _w.Chunking.SpatialImages;
        var chunk = images == int.MaxValue ? rows : (int)Math.Clamp((long)images * height * width / frames, 1, rows);
        var h = LayerChunking.ByRows(ops, rows, chunk, (start, count) =>
        {
            var part = _projIn.Forward(count == rows ? sequences : sequences.Slice(0, start, count));   // (n, F, inner)
            return _projOut.Forward(_block.Forward(part, null));                                         // (n, F, C)
        });
        return ops.Add(ops.SequencesToFrames(h, height, width), x);               // (B*F, H, W, C)
    }
}
