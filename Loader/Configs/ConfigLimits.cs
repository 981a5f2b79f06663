namespace CudaI2V.Loader.Configs;

/// <summary>
/// The bounds the config readers hold values to. They are far above the I2VGen-XL release's values (which the
/// comments give) and low enough that nothing sized from a config can overflow an int or ask for an absurd
/// allocation before the weights' own shapes are checked against it.
/// </summary>
public static class ConfigLimits
{
    /// <summary>Channels, widths and group counts (release: at most 4096, the CLIP text MLP).</summary>
    public const int MaxChannels = 65536;

    /// <summary>Latent and image channels (release: 4 and 3).</summary>
    public const int MaxLatentChannels = 64;

    /// <summary>Resolution levels of a UNet or VAE (release: 4).</summary>
    public const int MaxLevels = 8;

    /// <summary>Resnets per block (release: 2).</summary>
    public const int MaxLayersPerBlock = 16;

    /// <summary>Transformer layers of a CLIP encoder (release: 24 and 32).</summary>
    public const int MaxLayers = 256;

    /// <summary>Image sides, crop sizes and nominal sample sizes in pixels (release: 224 and 768).</summary>
    public const int MaxSide = 16384;

    /// <summary>Token positions (release: 77).</summary>
    public const int MaxPositions = 4096;

    /// <summary>Vocabulary size (release: 49408).</summary>
    public const int MaxVocabulary = 1_000_000;

    /// <summary>Training timesteps of a scheduler (release: 1000).</summary>
    public const int MaxTrainTimesteps = 100_000;
}
