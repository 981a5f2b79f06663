using CudaI2V.Kernels;
using CudaI2V.Layers.Modules;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.Clip;

/// <summary>
/// transformers' <c>CLIPVisionEmbeddings</c> without position interpolation: the image is cut into P x P
/// patches by a convolution with kernel = stride = P, no padding and no bias (one token per patch, in row-major
/// (y, x) order), the class embedding is put in front, and one learned position embedding is added per token.
/// Keys under <c>{prefix}</c>: <c>class_embedding</c> [C], <c>patch_embedding.weight</c> [C, channels, P, P],
/// <c>position_embedding.weight</c> [L, C] with L = (S / P)^2 + 1 for image side S.
/// </summary>
public sealed class ClipVisionEmbeddings
{
    private readonly IOps _ops;
    private readonly Conv2d _patchEmbedding;
    private readonly Tensor _classEmbedding;
    private readonly Tensor _positionEmbedding;

    /// <summary>Binds the embeddings of <paramref name="config"/>.</summary>
    public ClipVisionEmbeddings(WeightBinder w, string prefix, ClipVisionConfig config)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(config);
        _ops = w.Ops;
        ImageSize = config.ImageSize;
        Channels = config.NumChannels;
        HiddenSize = config.HiddenSize;
        NumPositions = config.NumPositions;
        _classEmbedding = w.Take($"{prefix}.class_embedding", HiddenSize);
        _patchEmbedding = new Conv2d(w, $"{prefix}.patch_embedding", Channels, HiddenSize, config.PatchSize, stride: config.PatchSize, padding: Padding2D.None, bias: false);
        _positionEmbedding = w.Take($"{prefix}.position_embedding.weight", NumPositions, HiddenSize);
    }

    /// <summary>S, the side of the square input image in pixels.</summary>
    public int ImageSize { get; }

    /// <summary>Input channels (3).</summary>
    public int Channels { get; }

    /// <summary>C, the token width.</summary>
    public int HiddenSize { get; }

    /// <summary>L, tokens per image: one per patch plus the class token.</summary>
    public int NumPositions { get; }

    /// <summary>
    /// Channels-last pixels (B, S, S, channels) to tokens (B, L, C): [class ; patches] + positions.
    /// </summary>
    /// <exception cref="ArgumentException">The pixels are not (B, S, S, channels) for this config's S.</exception>
    public Tensor Forward(Tensor pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        var expected = $"(B, {ImageSize}, {ImageSize}, {Channels})";
        if (pixels.Shape.Rank != 4 || pixels.Shape[0] < 1 || pixels.Shape[1] != ImageSize || pixels.Shape[2] != ImageSize || pixels.Shape[3] != Channels)
        {
            throw new ArgumentException($"CLIP vision embeddings take channels-last pixels {expected}, got {pixels.Shape}.", nameof(pixels));
        }

        var batch = pixels.Shape[0];                                                               // B
        var patches = _patchEmbedding.Forward(pixels);                                             // (B, S/P, S/P, C)
        patches = patches.Reshape(batch, NumPositions - 1, HiddenSize);                            // (B, L-1, C)
        var classTokens = Repeat(_classEmbedding.Reshape(1, 1, HiddenSize), batch);                // (B, 1, C)
        var tokens = _ops.Concat([classTokens, patches], axis: 1);                                 // (B, L, C)
        var positions = Repeat(_positionEmbedding.Reshape(1, NumPositions, HiddenSize), batch);    // (B, L, C)
        return _ops.Add(tokens, positions);                                                        // (B, L, C)
    }

    /// <summary>(1, ...) repeated <paramref name="batch"/> times along axis 0 (a copy; IOps has no broadcast add).</summary>
    private Tensor Repeat(Tensor one, int batch) =>
        batch == 1 ? one : _ops.Concat(Enumerable.Repeat(one, batch).ToArray(), axis: 0);
}
