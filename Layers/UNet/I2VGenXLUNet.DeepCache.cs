using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.UNet;

/// <summary>
/// What one UNet call does with the deep feature of step caching (DeepCache, Ma et al. 2023, arXiv 2312.00858): the
/// input of <c>up_blocks[Depth]</c>, the output of the deep part of the UNet (the deeper down blocks, the mid block and
/// the up blocks before <c>Depth</c>). See docs/step-caching.md.
/// </summary>
/// <param name="Depth">The up block whose input is cached (0 to levels - 1).</param>
/// <param name="Buffer">The cache, outside any arena: (B*F, h, w, C) of <see cref="I2VGenXLUNet.DeepFeatureShape"/>.</param>
/// <param name="Reuse">False: run the whole UNet and store the deep feature in <paramref name="Buffer"/>; true: run only the shallow branch on it.</param>
public sealed record DeepFeature(int Depth, Tensor? Buffer, bool Reuse)
{
    /// <summary>No caching: the whole UNet, nothing stored.</summary>
    public static DeepFeature None { get; } = new(-1, null, false);
}

/// <summary>The forward of the UNet, whole or as DeepCache's shallow branch.</summary>
public sealed partial class I2VGenXLUNet
{
    /// <summary>Levels of the UNet (down blocks): a cache depth is 0 to this - 1.</summary>
    public int Levels => _downBlocks.Length;

    /// <summary>
    /// The shape of the deep feature cached at <paramref name="depth"/> for a sample of <paramref name="sample"/>'s shape:
    /// the input of <c>up_blocks[depth]</c>, at the resolution of down level <c>levels - 1 - depth</c> (each downsampler
    /// halves a side, rounding up), with the channels of the block before it (the mid block's for depth 0).
    /// </summary>
    public TensorShape DeepFeatureShape(TensorShape sample, int depth)
    {
        ArgumentNullException.ThrowIfNull(sample);
        CheckDepth(depth);
        int h = sample[1], w = sample[2];
        for (var level = 0; level < Levels - 1 - depth; level++)
        {
            (h, w) = ((h + 1) / 2, (w + 1) / 2);
        }

        var channels = _config.BlockOutChannels;
        var c = depth == 0 ? channels[^1] : channels[channels.Count - depth];
        return new TensorShape(sample[0], h, w, c);
    }

    /// <summary>
    /// One UNet call as <see cref="Forward(Tensor, Tensor, UNetConditioning)"/>, with step caching: with
    /// <see cref="DeepFeature.Reuse"/> false it runs the whole UNet and copies the deep feature into the cache (the same
    /// output, bit for bit); with it true it runs only the shallow branch (conv_in, transformer_in, the layers of the
    /// down blocks whose skips the shallow up blocks read, those up blocks on the cached feature, conv_out): the deeper
    /// down blocks, the last shallow down block's downsampler, the mid block and the up blocks before the depth are not
    /// called.
    /// </summary>
    public Tensor Forward(Tensor sample, Tensor stepEmbedding, UNetConditioning conditioning, DeepFeature cache)
    {
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(cache);
        CheckDepth(cache.Depth);
        ArgumentNullException.ThrowIfNull(cache.Buffer);
        var expected = DeepFeatureShape(sample.Shape, cache.Depth);
        if (cache.Buffer.Shape != expected)
        {
            throw new ArgumentException($"The deep-feature cache at depth {cache.Depth} must be {expected}; got {cache.Buffer.Shape}.", nameof(cache));
        }

        return Run(sample, stepEmbedding, conditioning, cache);
    }

    private void CheckDepth(int depth)
    {
        if (depth < 0 || depth >= Levels)
        {
            throw new ArgumentOutOfRangeException(nameof(depth), depth, $"The cache depth is the up block whose input is cached: 0 to {Levels - 1} for this UNet.");
        }
    }

    private Tensor Run(Tensor sample, Tensor stepEmbedding, UNetConditioning conditioning, DeepFeature cache)
    {
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(stepEmbedding);
        ArgumentNullException.ThrowIfNull(conditioning);
        var frames = conditioning.Frames;
        if (sample.Shape.Rank != 4 || sample.Shape[3] != _config.InChannels || sample.Shape != conditioning.ImageStream.Shape)
        {
            throw new ArgumentException(
                $"UNet sample must be (B*F, H, W, {_config.InChannels}) like the image latents {conditioning.ImageStream.Shape}; got {sample.Shape}.", nameof(sample));
        }

        var expected = new TensorShape(sample.Shape[0], conditioning.FpsEmbedding.Shape[1]);
        if (stepEmbedding.Shape != expected)
        {
            throw new ArgumentException($"The step embedding must be {expected} (B*F, T), as StepEmbedding makes it; got {stepEmbedding.Shape}.", nameof(stepEmbedding));
        }

        var inputs = new BlockInputs(stepEmbedding, conditioning.Context, frames, conditioning.CrossKeyValues);

        var x = _convIn.Forward(_ops.Concat([sample, conditioning.ImageStream], axis: -1));   // (N, H, W, c0)
        x = _transformerIn.Forward(x, frames);

        var skips = new List<Tensor> { x };
        var firstUp = 0;
        if (cache.Reuse)
        {
            // The shallow up blocks read the skips of down levels 0 .. levels - 1 - depth; the last of these levels'
            // downsampler feeds only the deep part.
            firstUp = cache.Depth;
            var shallow = Levels - cache.Depth;
            for (var i = 0; i < shallow - 1; i++)
            {
                x = _downBlocks[i].Forward(x, inputs, skips);
            }

            foreach (var layer in _downBlocks[shallow - 1].Layers)
            {
                x = layer.Forward(x, inputs);
                skips.Add(x);
            }

            x = cache.Buffer!;
        }
        else
        {
            foreach (var block in _downBlocks)
            {
                x = block.Forward(x, inputs, skips);
            }

            x = _midBlock.Forward(x, inputs);
        }

        var factor = 1 << UpsamplerCount;
        var explicitSizes = sample.Shape[1] % factor != 0 || sample.Shape[2] % factor != 0;
        for (var i = firstUp; i < _upBlocks.Length; i++)
        {
            if (!cache.Reuse && i == cache.Depth)
            {
                _ops.CopyInto(x, cache.Buffer!);
            }

            var block = _upBlocks[i];
            (int, int)? size = null;
            if (explicitSizes && skips.Count > block.LayerCount)
            {
                var next = skips[skips.Count - 1 - block.LayerCount];
                size = (next.Shape[1], next.Shape[2]);
            }

            x = block.Forward(x, inputs, skips, size);
        }

        return _convOut.Forward(_convNormOut.Forward(x, silu: true));                         // (N, H, W, out)
    }
}
