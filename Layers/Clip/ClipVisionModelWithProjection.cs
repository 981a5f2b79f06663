using CudaI2V.Kernels;
using CudaI2V.Layers.Modules;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.Clip;

/// <summary>What the CLIP vision encoder returns for a batch of B images.</summary>
/// <param name="ImageEmbeds">(B, projection_dim): visual_projection(post_layernorm(class token)), not normalised.</param>
/// <param name="LastHiddenState">(B, L, C): the encoder's output before post_layernorm, as transformers returns it.</param>
public sealed record ClipVisionOutput(Tensor ImageEmbeds, Tensor LastHiddenState);

/// <summary>
/// transformers' <c>CLIPVisionTransformer</c> (the <c>vision_model</c> of the checkpoint): embeddings,
/// <c>pre_layrnorm</c> (sic, transformers' key), the encoder, then <c>post_layernorm</c> of the class token only.
/// </summary>
public sealed class ClipVisionTransformer
{
    private readonly IOps _ops;
    private readonly LayerNorm _preLayrnorm;
    private readonly LayerNorm _postLayernorm;

    /// <summary>Binds the tower of <paramref name="config"/> under <paramref name="prefix"/> (<c>vision_model</c>).</summary>
    public ClipVisionTransformer(WeightBinder w, string prefix, ClipVisionConfig config)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(config);
        _ops = w.Ops;
        var (c, eps) = (config.HiddenSize, (float)config.LayerNormEps);
        Embeddings = new ClipVisionEmbeddings(w, $"{prefix}.embeddings", config);
        _preLayrnorm = new LayerNorm(w, $"{prefix}.pre_layrnorm", c, eps);
        Encoder = new ClipEncoder(w, $"{prefix}.encoder", config);
        _postLayernorm = new LayerNorm(w, $"{prefix}.post_layernorm", c, eps);
    }

    /// <summary>Patch, class and position embeddings.</summary>
    public ClipVisionEmbeddings Embeddings { get; }

    /// <summary>The transformer layers.</summary>
    public ClipEncoder Encoder { get; }

    /// <summary>
    /// Channels-last pixels (B, S, S, channels) to the last hidden state (B, L, C) (before post_layernorm) and the
    /// pooled output (B, C) (post_layernorm of token 0).
    /// </summary>
    public (Tensor LastHiddenState, Tensor Pooled) Forward(Tensor pixels)
    {
        var h = Embeddings.Forward(pixels);                                     // (B, L, C)
        h = _preLayrnorm.Forward(h);                                            // (B, L, C)
        var last = Encoder.Forward(h);                                          // (B, L, C)
        var (batch, c) = (last.Shape[0], last.Shape[2]);                        // B, C
        var classToken = _ops.Copy(last.Slice(1, 0, 1)).Reshape(batch, c);     // (B, C)
        return (last, _postLayernorm.Forward(classToken));                      // (B, L, C), (B, C)
    }
}

/// <summary>
/// transformers' <c>CLIPVisionModelWithProjection</c>, the I2VGen-XL image encoder, built from its config against
/// <see cref="IOps"/> with every weight bound by its transformers key (<c>vision_model.*</c> and
/// <c>visual_projection.weight</c> [projection_dim, C], no bias). See docs/i2vgenxl-spec.md sections 4.5 and 7.4.
/// </summary>
public sealed class ClipVisionModelWithProjection
{
    private readonly Linear _visualProjection;

    /// <summary>Builds the encoder of <paramref name="config"/>, taking its weights from <paramref name="w"/>.</summary>
    public ClipVisionModelWithProjection(WeightBinder w, ClipVisionConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        VisionModel = new ClipVisionTransformer(w, "vision_model", config);
        _visualProjection = new Linear(w, "visual_projection", config.HiddenSize, config.ProjectionDim, bias: false);
    }

    /// <summary>The config the model was built from.</summary>
    public ClipVisionConfig Config { get; }

    /// <summary>The vision tower (<c>vision_model</c>).</summary>
    public ClipVisionTransformer VisionModel { get; }

    /// <summary>
    /// Builds the encoder of <paramref name="config"/> on <paramref name="ops"/> from <paramref name="weights"/> and
    /// checks that every key of the file was used (a <c>position_ids</c> buffer excepted).
    /// </summary>
    public static ClipVisionModelWithProjection Load(IOps ops, WeightSet weights, ClipVisionConfig config)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var model = new ClipVisionModelWithProjection(new WeightBinder(ops, weights), config);
        weights.EnsureAllUsed();
        return model;
    }

    /// <summary>
    /// Encodes channels-last pixels (B, S, S, channels), already normalised by the feature extractor, with S the
    /// config's image_size.
    /// </summary>
    /// <returns>image_embeds (B, projection_dim) and last_hidden_state (B, L, C), L = (S / patch)^2 + 1.</returns>
    /// <exception cref="ArgumentException">The pixels are not (B, S, S, channels).</exception>
    public ClipVisionOutput Forward(Tensor pixels)
    {
        var (last, pooled) = VisionModel.Forward(pixels);                       // (B, L, C), (B, C)
        var imageEmbeds = _visualProjection.Forward(pooled);                    // (B, projection_dim)
        return new ClipVisionOutput(imageEmbeds, last);
    }
}
