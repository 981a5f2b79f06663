using CudaI2V.Kernels;
using CudaI2V.Layers.Modules;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.UNet;

/// <summary>
/// What the UNet computes once per request and reuses at every denoising step: the cross-attention context,
/// the processed image-latent stream that is concatenated to the noisy sample, and the fps embedding.
/// </summary>
/// <param name="Context">(B, Ltext + 64 + in_channels, crossDim): [text ; image-latent tokens ; CLIP image tokens], one row per
/// video (not repeated per frame: every frame of a video reads its video's row, see <see cref="IOps.Attention"/>).</param>
/// <param name="ImageStream">(B*F, H, W, in_channels): image latents after image_latents_proj_in and the temporal encoder.</param>
/// <param name="FpsEmbedding">(B, timeEmbedDim).</param>
/// <param name="Frames">Frames per video.</param>
/// <param name="CrossKeyValues">The context's keys and values for every spatial cross-attention, (B, tokens, inner) each: projected
/// once per video (optional: without it each step projects them again).</param>
public sealed record UNetConditioning(Tensor Context, Tensor ImageStream, Tensor FpsEmbedding, int Frames, CrossAttentionCache? CrossKeyValues = null)
{
    /// <summary>Videos in the batch.</summary>
    public int Batch => FpsEmbedding.Shape[0];

    /// <summary>
    /// The conditioning of video <paramref name="index"/> alone (views of this one's rows, nothing is computed): a batch
    /// run one video at a time gives the same values, since every layer treats each video on its own.
    /// </summary>
    public UNetConditioning Video(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Batch);
        return new UNetConditioning(
            Context.Slice(0, index, 1), ImageStream.Slice(0, index * Frames, Frames), FpsEmbedding.Slice(0, index, 1), Frames,
            CrossKeyValues?.Rows(index, 1));
    }
}

/// <summary>
/// diffusers' <c>I2VGenXLUNet</c>, built from its config against <see cref="IOps"/>, weights bound by their
/// exact keys (every key of the file must be used). Activations are channels-last with frames folded into
/// the batch: (B*F, H, W, C). See docs/i2vgenxl-spec.md section 3 for the exact op order.
/// </summary>
public sealed partial class I2VGenXLUNet
{
    private const int ImageContextPool = 32;

    private readonly IOps _ops;
    private readonly UNetConfig _config;
    private readonly UNetDims _dims;
    private readonly Conv2d _convIn;
    private readonly TransformerTemporalModel _transformerIn;
    private readonly Conv2d[] _imageLatentsProjIn;
    private readonly I2VGenXLTransformerTemporalEncoder _imageLatentsTemporalEncoder;
    private readonly Conv2d[] _imageLatentsContextEmbedding;
    private readonly EmbeddingMlp _timeEmbedding;
    private readonly EmbeddingMlp _fpsEmbedding;
    private readonly EmbeddingMlp _contextEmbedding;
    private readonly UNetDownBlock3D[] _downBlocks;
    private readonly UNetMidBlock3DCrossAttn _midBlock;
    private readonly UNetUpBlock3D[] _upBlocks;
    private readonly GroupNorm _convNormOut;
    private readonly Conv2d _convOut;

    /// <summary>Builds the UNet of <paramref name="config"/>, taking its weights from <paramref name="w"/>.</summary>
    public I2VGenXLUNet(WeightBinder w, UNetConfig config)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(config);
        _ops = w.Ops;
        _config = config;
        Chunking = w.Chunking;
        _dims = UNetDims.From(config);
        var channels = config.BlockOutChannels;
        int inC = config.InChannels, c0 = channels[0], t = _dims.TimeEmbedDim, cross = config.CrossAttentionDim;

        _convIn = new Conv2d(w, "conv_in", 2 * inC, c0, 3);
        _timeEmbedding = EmbeddingMlp.TimestepEmbedding(w, "time_embedding", c0, t);
        _contextEmbedding = EmbeddingMlp.Sequential(w, "context_embedding", cross, t, cross * inC);
        _fpsEmbedding = EmbeddingMlp.Sequential(w, "fps_embedding", c0, t, t);
        _imageLatentsProjIn =
        [
            new Conv2d(w, "image_latents_proj_in.0", inC, inC * 4, 3),
            new Conv2d(w, "image_latents_proj_in.2", inC * 4, inC * 4, 3),
            new Conv2d(w, "image_latents_proj_in.4", inC * 4, inC, 3),
        ];
        _imageLatentsTemporalEncoder = new I2VGenXLTransformerTemporalEncoder(w, "image_latents_temporal_encoder", inC, heads: 2, headDim: inC, ffInner: inC * 4);
        _imageLatentsContextEmbedding =
        [
            new Conv2d(w, "image_latents_context_embedding.0", inC, inC * 8, 3),
            new Conv2d(w, "image_latents_context_embedding.3", inC * 8, inC * 16, 3, stride: 2, padding: Padding2D.All(1)),
            new Conv2d(w, "image_latents_context_embedding.5", inC * 16, cross, 3, stride: 2, padding: Padding2D.All(1)),
        ];

        // transformer_in: 8 heads of the config's head dimension on block_out_channels[0].
        _transformerIn = new TransformerTemporalModel(w, "transformer_in", c0, heads: 8, _dims.HeadDim, _dims.Groups);

        var levels = channels.Count;
        _downBlocks = new UNetDownBlock3D[levels];
        var output = c0;
        for (var i = 0; i < levels; i++)
        {
            var input = output;
            output = channels[i];
            var last = i == levels - 1;
            var prefix = $"down_blocks.{i}";
            _downBlocks[i] = config.DownBlockTypes[i] == "CrossAttnDownBlock3D"
                ? new CrossAttnDownBlock3D(w, prefix, input, output, _dims, addDownsample: !last)
                : new DownBlock3D(w, prefix, input, output, _dims, addDownsample: !last);
        }

        _midBlock = new UNetMidBlock3DCrossAttn(w, "mid_block", channels[^1], _dims);

        _upBlocks = new UNetUpBlock3D[levels];
        var reversed = channels.Reverse().ToArray();
        output = reversed[0];
        for (var i = 0; i < levels; i++)
        {
            var previous = output;
            output = reversed[i];
            var input = reversed[Math.Min(i + 1, levels - 1)];
            var layers = config.LayersPerBlock + 1;
            var skips = Enumerable.Range(0, layers).Select(j => j == layers - 1 ? input : output).ToArray();
            var last = i == levels - 1;
            var prefix = $"up_blocks.{i}";
            _upBlocks[i] = config.UpBlockTypes[i] == "CrossAttnUpBlock3D"
                ? new CrossAttnUpBlock3D(w, prefix, previous, output, skips, _dims, addUpsample: !last)
                : new UpBlock3D(w, prefix, previous, output, skips, _dims, addUpsample: !last);
        }

        _convNormOut = new GroupNorm(w, "conv_norm_out", _dims.Groups, c0, 1e-5f);
        _convOut = new Conv2d(w, "conv_out", c0, config.OutChannels, 3);
    }

    /// <summary>The config the model was built from.</summary>
    public UNetConfig Config => _config;

    /// <summary>How its layers chunk their work (the feed-forward's token chunk), read at each call.</summary>
    public LayerChunking Chunking { get; }

    /// <summary>Block sizes.</summary>
    public UNetDims Dims => _dims;

    /// <summary>Number of upsamplers: inputs not a multiple of 2^this get explicit upsample sizes.</summary>
    public int UpsamplerCount => _config.BlockOutChannels.Count - 1;

    /// <summary>The down blocks (for module tests).</summary>
    public IReadOnlyList<UNetDownBlock3D> DownBlocks => _downBlocks;

    /// <summary>The up blocks (for module tests).</summary>
    public IReadOnlyList<UNetUpBlock3D> UpBlocks => _upBlocks;

    /// <summary>Every spatial transformer (the attentions whose cross-attention reads the constant context).</summary>
    public IEnumerable<Transformer2DModel> SpatialTransformers =>
        _downBlocks.SelectMany(b => b.Layers)
            .Concat(_upBlocks.SelectMany(b => b.Layers))
            .Select(l => l.Attention)
            .OfType<Transformer2DModel>()
            .Append(_midBlock.Attention);

    /// <summary>The mid block (for module tests).</summary>
    public UNetMidBlock3DCrossAttn MidBlock => _midBlock;

    /// <summary>
    /// Builds the UNet of <paramref name="config"/> on <paramref name="ops"/> from <paramref name="weights"/> and
    /// checks that every key of the file was used.
    /// </summary>
    public static I2VGenXLUNet Load(IOps ops, WeightSet weights, UNetConfig config)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var unet = new I2VGenXLUNet(new WeightBinder(ops, weights), config);
        weights.EnsureAllUsed();
        return unet;
    }

    /// <summary>
    /// The sinusoidal features of integer timesteps (or fps values): (count, block_out_channels[0]),
    /// flip_sin_to_cos, no shift.
    /// </summary>
    public Tensor TimeProjection(ReadOnlySpan<float> values) =>
        _ops.TimestepFeatures(values, _config.BlockOutChannels[0], flipSinToCos: true, downscaleFreqShift: 0f);

    /// <summary>time_embedding(time_proj(t)) for one timestep, for each of <paramref name="batch"/> videos: (B, T).</summary>
    public Tensor TimeEmbedding(float timestep, int batch)
    {
        var values = new float[batch];
        Array.Fill(values, timestep);
        return _timeEmbedding.Forward(TimeProjection(values));
    }

    /// <summary>fps_embedding(time_proj(fps)): (B, T).</summary>
    public Tensor FpsEmbedding(ReadOnlySpan<float> fps) => _fpsEmbedding.Forward(TimeProjection(fps));

    /// <summary>
    /// image_latents_context_embedding on frame 0 of each video, as tokens: (B, 64, crossDim) for any latent size
    /// (adaptive pooling to 32x32, two stride-2 convolutions).
    /// </summary>
    /// <param name="firstFrames">(B, H, W, in_channels).</param>
    public Tensor ImageLatentTokens(Tensor firstFrames)
    {
        ArgumentNullException.ThrowIfNull(firstFrames);
        var h = _ops.Silu(_imageLatentsContextEmbedding[0].Forward(firstFrames));     // (B, H, W, 8in)
        h = _ops.AdaptiveAvgPool2d(h, ImageContextPool, ImageContextPool);            // (B, 32, 32, 8in)
        h = _ops.Silu(_imageLatentsContextEmbedding[1].Forward(h));                    // (B, 16, 16, 16in)
        h = _imageLatentsContextEmbedding[2].Forward(h);                               // (B, 8, 8, cross)
        return h.Reshape(h.Shape[0], h.Shape[1] * h.Shape[2], h.Shape[3]);             // (B, 64, cross)
    }

    /// <summary>context_embedding of the CLIP image embeddings as in_channels tokens: (B, 1, cross) to (B, in, cross).</summary>
    public Tensor ImageEmbeddingTokens(Tensor imageEmbeddings)
    {
        ArgumentNullException.ThrowIfNull(imageEmbeddings);
        var e = _contextEmbedding.Forward(imageEmbeddings);                           // (B, 1, cross * in)
        return e.Reshape(e.Shape[0], _config.InChannels, _config.CrossAttentionDim);
    }

    /// <summary>image_latents_proj_in: three 3x3 convolutions with SiLU between, (B*F, H, W, in) to the same shape.</summary>
    public Tensor ImageLatentsProjIn(Tensor imageLatents)
    {
        ArgumentNullException.ThrowIfNull(imageLatents);
        var h = _ops.Silu(_imageLatentsProjIn[0].Forward(imageLatents));             // (B*F, H, W, 4in)
        h = _ops.Silu(_imageLatentsProjIn[1].Forward(h));
        return _imageLatentsProjIn[2].Forward(h);                                     // (B*F, H, W, in)
    }

    /// <summary>The temporal encoder on each pixel's frame sequence: (B*H*W, F, in) to the same shape.</summary>
    public Tensor ImageLatentsTemporalEncoder(Tensor sequences) => _imageLatentsTemporalEncoder.Forward(sequences);

    /// <summary>image_latents_proj_in then the temporal encoder: (B*F, H, W, in) to the same shape.</summary>
    public Tensor ImageStream(Tensor imageLatents, int frames)
    {
        ArgumentNullException.ThrowIfNull(imageLatents);
        int height = imageLatents.Shape[1], width = imageLatents.Shape[2];
        var sequences = _ops.FramesToSequences(ImageLatentsProjIn(imageLatents), frames); // (B*H*W, F, in)
        return _ops.SequencesToFrames(_imageLatentsTemporalEncoder.Forward(sequences), height, width);
    }

    /// <summary>
    /// Everything that does not change between denoising steps.
    /// </summary>
    /// <param name="imageLatents">(B*F, H, W, in_channels), channels-last.</param>
    /// <param name="imageEmbeddings">(B, 1, crossDim).</param>
    /// <param name="encoderHiddenStates">(B, Ltext, crossDim).</param>
    /// <param name="fps">B frame rates.</param>
    /// <param name="frames">F.</param>
    public UNetConditioning Condition(Tensor imageLatents, Tensor imageEmbeddings, Tensor encoderHiddenStates, ReadOnlySpan<float> fps, int frames)
    {
        ArgumentNullException.ThrowIfNull(imageLatents);
        ArgumentNullException.ThrowIfNull(encoderHiddenStates);
        var batch = encoderHiddenStates.Shape[0];
        CheckInputs(imageLatents, imageEmbeddings, encoderHiddenStates, fps.Length, frames, batch);

        var firstFrames = _ops.Concat([.. Enumerable.Range(0, batch).Select(b => imageLatents.Slice(0, b * frames, 1))], axis: 0);
        // One context row per video, projected once per video: the frames of a video read the same keys and values
        // (the attention pairs q row b*F+f with k/v row b), the same numbers as diffusers' repeat_interleave over frames.
        var context = _ops.Concat([encoderHiddenStates, ImageLatentTokens(firstFrames), ImageEmbeddingTokens(imageEmbeddings)], axis: 1);
        var crossKeyValues = new CrossAttentionCache();
        foreach (var transformer in SpatialTransformers)
        {
            crossKeyValues.Add(transformer.Block.CrossAttention, context);
        }

        return new UNetConditioning(context, ImageStream(imageLatents, frames), FpsEmbedding(fps), frames, crossKeyValues);
    }

    /// <summary>
    /// One UNet call: the noisy latents (B*F, H, W, in_channels) at <paramref name="timestep"/> to the model
    /// output of the same shape.
    /// </summary>
    public Tensor Forward(Tensor sample, float timestep, UNetConditioning conditioning)
    {
        ArgumentNullException.ThrowIfNull(conditioning);
        return Forward(sample, StepEmbedding(timestep, conditioning), conditioning);
    }

    /// <summary>
    /// What every resnet of a call at <paramref name="timestep"/> receives: silu(repeat_interleave(time_embedding(t)
    /// + fps_embedding, F)), (B*F, T). It depends only on the request and the timestep, so a sampler computes it
    /// once per step of the schedule, before the loop.
    /// </summary>
    public Tensor StepEmbedding(float timestep, UNetConditioning conditioning)
    {
        ArgumentNullException.ThrowIfNull(conditioning);
        var emb = _ops.Add(TimeEmbedding(timestep, conditioning.Batch), conditioning.FpsEmbedding); // (B, T)
        return _ops.Silu(RepeatInterleave(emb, conditioning.Frames));                              // (B*F, T)
    }

    /// <summary>
    /// One UNet call with the timestep given as its <see cref="StepEmbedding"/>: the noisy latents
    /// (B*F, H, W, in_channels) to the model output of the same shape. The call uploads nothing from the host, so a
    /// backend can capture it once and replay it.
    /// </summary>
    public Tensor Forward(Tensor sample, Tensor stepEmbedding, UNetConditioning conditioning) => Run(sample, stepEmbedding, conditioning, DeepFeature.None);

    /// <summary>(B, ...) to (B*F, ...): row b*F+f = row b (PyTorch's repeat_interleave on dim 0).</summary>
    public Tensor RepeatInterleave(Tensor x, int times)
    {
        ArgumentNullException.ThrowIfNull(x);
        var parts = new List<Tensor>(x.Shape[0] * times);
        for (var b = 0; b < x.Shape[0]; b++)
        {
            var row = x.Slice(0, b, 1);
            parts.AddRange(Enumerable.Repeat(row, times));
        }

        return _ops.Concat(parts, axis: 0);
    }

    private void CheckInputs(Tensor imageLatents, Tensor imageEmbeddings, Tensor encoderHiddenStates, int fpsCount, int frames, int batch)
    {
        var cross = _config.CrossAttentionDim;
        if (frames < 1 || imageLatents.Shape.Rank != 4 || imageLatents.Shape[0] != batch * frames || imageLatents.Shape[3] != _config.InChannels)
        {
            throw new ArgumentException(
                $"Image latents must be (B*F, H, W, {_config.InChannels}) = ({batch}*{frames}, H, W, {_config.InChannels}); got {imageLatents.Shape}.", nameof(imageLatents));
        }

        if (encoderHiddenStates.Shape.Rank != 3 || encoderHiddenStates.Shape[2] != cross)
        {
            throw new ArgumentException($"encoder_hidden_states must be (B, L, {cross}); got {encoderHiddenStates.Shape}.", nameof(encoderHiddenStates));
        }

        if (imageEmbeddings.Shape != new TensorShape(batch, 1, cross))
        {
            throw new ArgumentException($"image_embeddings must be ({batch}, 1, {cross}); got {imageEmbeddings.Shape}.", nameof(imageEmbeddings));
        }

        if (fpsCount != batch)
        {
            throw new ArgumentException($"fps must have one value per video ({batch}); got {fpsCount}.", nameof(fpsCount));
        }
    }
}
