using CudaI2V.Layers.Modules;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.UNet;

/// <summary>
/// diffusers' <c>TransformerTemporalModel</c>: GN (eps 1e-6, statistics over all frames of a video) -> each
/// pixel's frames become a sequence (B*H*W, F, C) -> proj_in -> BasicTransformerBlock with two
/// self-attentions over the F frames (double_self_attention, no context, no positional embedding) ->
/// proj_out -> back to images, plus the input.
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
        var h = _projIn.Forward(sequences);                                       // (B*H*W, F, inner)
        h = _block.Forward(h, null);
        h = _projOut.Forward(h);                                                  // (B*H*W, F, C)
        return ops.Add(ops.SequencesToFrames(h, height, width), x);               // (B*F, H, W, C)
    }
}
