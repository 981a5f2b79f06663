using CudaI2V.Layers.Modules;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.UNet;

/// <summary>What the down, mid and up blocks need besides the hidden state.</summary>
/// <param name="TembSilu">SiLU of the per-frame-image embedding (N, T).</param>
/// <param name="Context">Cross-attention context (N, Lk, crossDim).</param>
/// <param name="Frames">Frames per video (N = batch * frames).</param>
/// <param name="CrossKeyValues">The context's keys and values, projected once per request (optional).</param>
public sealed record BlockInputs(Tensor TembSilu, Tensor Context, int Frames, CrossAttentionCache? CrossKeyValues = null);

/// <summary>
/// One layer of a 3-D UNet block: ResnetBlock2D -> TemporalConvLayer, and in the cross-attention blocks
/// -> Transformer2DModel -> TransformerTemporalModel (keys <c>resnets.j</c>, <c>temp_convs.j</c>,
/// <c>attentions.j</c>, <c>temp_attentions.j</c>).
/// </summary>
public sealed class UNetLayer3D
{
    /// <summary>Binds layer <paramref name="j"/> of the block at <paramref name="prefix"/>.</summary>
    public UNetLayer3D(WeightBinder w, string prefix, int j, int inChannels, int outChannels, UNetDims dims, bool crossAttention)
    {
        Resnet = new ResnetBlock2D(w, $"{prefix}.resnets.{j}", inChannels, outChannels, dims.TimeEmbedDim, dims.Groups, 1e-5f);
        TempConv = new TemporalConvLayer(w, $"{prefix}.temp_convs.{j}", outChannels, dims.Groups);
        if (crossAttention)
        {
            var heads = dims.HeadsFor(outChannels);
            Attention = new Transformer2DModel(w, $"{prefix}.attentions.{j}", outChannels, heads, dims.HeadDim, dims.CrossAttentionDim, dims.Groups);
            TempAttention = new TransformerTemporalModel(w, $"{prefix}.temp_attentions.{j}", outChannels, heads, dims.HeadDim, dims.Groups);
        }
    }

    /// <summary>The resnet.</summary>
    public ResnetBlock2D Resnet { get; }

    /// <summary>The temporal convolution.</summary>
    public TemporalConvLayer TempConv { get; }

    /// <summary>The spatial transformer (cross-attention blocks only).</summary>
    public Transformer2DModel? Attention { get; }

    /// <summary>The temporal transformer (cross-attention blocks only).</summary>
    public TransformerTemporalModel? TempAttention { get; }

    /// <summary>(N, H, W, Cin) to (N, H, W, Cout).</summary>
    public Tensor Forward(Tensor x, BlockInputs inputs)
    {
        x = Resnet.Forward(x, inputs.TembSilu);
        x = TempConv.Forward(x, inputs.Frames);
        if (Attention is not null)
        {
            x = Attention.Forward(x, inputs.Context, inputs.CrossKeyValues);
            x = TempAttention!.Forward(x, inputs.Frames);
        }

        return x;
    }
}

/// <summary>
/// A down block of the 3-D UNet: its layers, each output pushed to the skip stack, then an optional
/// downsampler whose output is pushed too. <see cref="CrossAttnDownBlock3D"/> and <see cref="DownBlock3D"/> are
/// its two kinds.
/// </summary>
public abstract class UNetDownBlock3D
{
    private readonly UNetLayer3D[] _layers;
    private readonly Downsample2D? _downsampler;

    /// <summary>Binds <c>down_blocks.{index}</c>.</summary>
    private protected UNetDownBlock3D(WeightBinder w, string prefix, int inChannels, int outChannels, UNetDims dims, bool crossAttention, bool addDownsample)
    {
        _layers = Enumerable.Range(0, dims.LayersPerBlock)
            .Select(j => new UNetLayer3D(w, prefix, j, j == 0 ? inChannels : outChannels, outChannels, dims, crossAttention))
            .ToArray();
        _downsampler = addDownsample ? new Downsample2D(w, $"{prefix}.downsamplers.0", outChannels, Downsample2D.Symmetric) : null;
    }

    /// <summary>The layers.</summary>
    public IReadOnlyList<UNetLayer3D> Layers => _layers;

    /// <summary>Runs the block; appends every output state to <paramref name="skips"/>.</summary>
    public Tensor Forward(Tensor x, BlockInputs inputs, List<Tensor> skips)
    {
        foreach (var layer in _layers)
        {
            x = layer.Forward(x, inputs);
            skips.Add(x);
        }

        if (_downsampler is not null)
        {
            x = _downsampler.Forward(x);
            skips.Add(x);
        }

        return x;
    }
}

/// <summary>
/// <c>UNetMidBlock3DCrossAttn</c>: resnets.0 -> temp_convs.0 -> [attentions.0 -> temp_attentions.0 ->
/// resnets.1 -> temp_convs.1].
/// </summary>
public sealed class UNetMidBlock3DCrossAttn
{
    private readonly ResnetBlock2D[] _resnets;
    private readonly TemporalConvLayer[] _tempConvs;
    private readonly Transformer2DModel _attention;
    private readonly TransformerTemporalModel _tempAttention;

    /// <summary>Binds <c>mid_block</c>.</summary>
    public UNetMidBlock3DCrossAttn(WeightBinder w, string prefix, int channels, UNetDims dims)
    {
        _resnets = [.. Enumerable.Range(0, 2).Select(j => new ResnetBlock2D(w, $"{prefix}.resnets.{j}", channels, channels, dims.TimeEmbedDim, dims.Groups, 1e-5f))];
        _tempConvs = [.. Enumerable.Range(0, 2).Select(j => new TemporalConvLayer(w, $"{prefix}.temp_convs.{j}", channels, dims.Groups))];
        var heads = dims.HeadsFor(channels);
        _attention = new Transformer2DModel(w, $"{prefix}.attentions.0", channels, heads, dims.HeadDim, dims.CrossAttentionDim, dims.Groups);
        _tempAttention = new TransformerTemporalModel(w, $"{prefix}.temp_attentions.0", channels, heads, dims.HeadDim, dims.Groups);
    }

    /// <summary>The spatial transformer.</summary>
    public Transformer2DModel Attention => _attention;

    /// <summary>(N, H, W, C) to the same shape.</summary>
    public Tensor Forward(Tensor x, BlockInputs inputs)
    {
        x = _resnets[0].Forward(x, inputs.TembSilu);
        x = _tempConvs[0].Forward(x, inputs.Frames);
        x = _attention.Forward(x, inputs.Context, inputs.CrossKeyValues);
        x = _tempAttention.Forward(x, inputs.Frames);
        x = _resnets[1].Forward(x, inputs.TembSilu);
        return _tempConvs[1].Forward(x, inputs.Frames);
    }
}

/// <summary>
/// An up block of the 3-D UNet: each layer first joins [hidden ; skip] on channels (skips popped from the end
/// of the stack), then an optional upsampler (to an explicit size when given). <see cref="CrossAttnUpBlock3D"/>
/// and <see cref="UpBlock3D"/> are its two kinds.
/// </summary>
public abstract class UNetUpBlock3D
{
    private readonly WeightBinder _w;
    private readonly UNetLayer3D[] _layers;
    private readonly Upsample2D? _upsampler;

    /// <summary>
    /// Binds <c>up_blocks.{index}</c>. Layer j takes (j == 0 ? prevOutput : out) channels plus the skip's channels:
    /// <paramref name="skipChannels"/>[j] (diffusers: the last layer's skip has the block's input channels).
    /// </summary>
    private protected UNetUpBlock3D(WeightBinder w, string prefix, int prevOutputChannels, int outChannels, IReadOnlyList<int> skipChannels, UNetDims dims, bool crossAttention, bool addUpsample)
    {
        _w = w;
        _layers = Enumerable.Range(0, skipChannels.Count)
            .Select(j => new UNetLayer3D(w, prefix, j, (j == 0 ? prevOutputChannels : outChannels) + skipChannels[j], outChannels, dims, crossAttention))
            .ToArray();
        _upsampler = addUpsample ? new Upsample2D(w, $"{prefix}.upsamplers.0", outChannels) : null;
    }

    /// <summary>Number of skips the block consumes.</summary>
    public int LayerCount => _layers.Length;

    /// <summary>The layers.</summary>
    public IReadOnlyList<UNetLayer3D> Layers => _layers;

    /// <summary>Runs the block, popping its skips from the end of <paramref name="skips"/>.</summary>
    public Tensor Forward(Tensor x, BlockInputs inputs, List<Tensor> skips, (int Height, int Width)? upsampleSize)
    {
        foreach (var layer in _layers)
        {
            var skip = skips[^1];
            skips.RemoveAt(skips.Count - 1);
            x = layer.Forward(_w.Ops.Concat([x, skip], axis: -1), inputs);   // (N, H, W, C + Cskip) -> (N, H, W, Cout)
        }

        return _upsampler is null ? x : _upsampler.Forward(x, upsampleSize);
    }
}

/// <summary>diffusers' <c>CrossAttnDownBlock3D</c>: resnet, temporal conv, spatial and temporal transformers per layer.</summary>
public sealed class CrossAttnDownBlock3D(WeightBinder w, string prefix, int inChannels, int outChannels, UNetDims dims, bool addDownsample)
    : UNetDownBlock3D(w, prefix, inChannels, outChannels, dims, crossAttention: true, addDownsample);

/// <summary>diffusers' <c>DownBlock3D</c>: resnet and temporal conv per layer.</summary>
public sealed class DownBlock3D(WeightBinder w, string prefix, int inChannels, int outChannels, UNetDims dims, bool addDownsample)
    : UNetDownBlock3D(w, prefix, inChannels, outChannels, dims, crossAttention: false, addDownsample);

/// <summary>diffusers' <c>CrossAttnUpBlock3D</c>.</summary>
public sealed class CrossAttnUpBlock3D(WeightBinder w, string prefix, int prevOutputChannels, int outChannels, IReadOnlyList<int> skipChannels, UNetDims dims, bool addUpsample)
    : UNetUpBlock3D(w, prefix, prevOutputChannels, outChannels, skipChannels, dims, crossAttention: true, addUpsample);

/// <summary>diffusers' <c>UpBlock3D</c>.</summary>
public sealed class UpBlock3D(WeightBinder w, string prefix, int prevOutputChannels, int outChannels, IReadOnlyList<int> skipChannels, UNetDims dims, bool addUpsample)
    : UNetUpBlock3D(w, prefix, prevOutputChannels, outChannels, skipChannels, dims, crossAttention: false, addUpsample);
