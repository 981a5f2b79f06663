using CudaI2V.Loader;
using CudaI2V.Loader.Configs;

namespace CudaI2V.Layers.UNet;

/// <summary>Sizes every UNet block shares, derived from the config.</summary>
/// <param name="TimeEmbedDim">Width of the time embedding: 4 x block_out_channels[0].</param>
/// <param name="Groups">GroupNorm groups.</param>
/// <param name="HeadDim">Head dimension of every block attention (the config's attention_head_dim).</param>
/// <param name="CrossAttentionDim">Width of the context tokens.</param>
/// <param name="LayersPerBlock">Layers per down block (up blocks have one more).</param>
public sealed record UNetDims(int TimeEmbedDim, int Groups, int HeadDim, int CrossAttentionDim, int LayersPerBlock)
{
    /// <summary>
    /// Heads of a block attention on <paramref name="channels"/> channels: channels / head dim (diffusers passes
    /// the head dimension as "num_attention_heads" and builds Transformer2DModel(C // it, it)).
    /// </summary>
    public int HeadsFor(int channels) =>
        channels % HeadDim == 0
            ? channels / HeadDim
            : throw new ModelFileException($"UNet channels {channels} are not a multiple of the head dimension {HeadDim}.");

    /// <summary>The dims of a config.</summary>
    public static UNetDims From(UNetConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new UNetDims(4 * config.BlockOutChannels[0], config.NormNumGroups, config.AttentionHeadDim, config.CrossAttentionDim, config.LayersPerBlock);
    }
}
