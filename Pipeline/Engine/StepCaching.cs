using CudaI2V.Loader.Configs;

namespace CudaI2V.Pipeline.Engine;

/// <summary>
/// Step caching (DeepCache, arXiv 2312.00858) as a request runs it: a full UNet step every <paramref name="Interval"/>
/// steps (steps 0, N, 2N, ... of each denoising phase), which stores the deep feature, and cached steps between them,
/// which run only the shallow branch on it (docs/step-caching.md).
/// </summary>
/// <param name="Interval">N: 1 runs every step in full (no caching, the same video bit for bit).</param>
/// <param name="Depth">The up block whose input is cached; null for the default, the last up block (levels - 1).</param>
public sealed record StepCaching(int Interval, int? Depth = null)
{
    /// <summary>True when some steps are cached (N above 1).</summary>
    public bool Caches => Interval > 1;

    /// <summary>The default depth for a UNet of <paramref name="config"/>: its last up block (3 for the release), the shallowest block-level branch and the largest saving.</summary>
    public static int DefaultDepth(UNetConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.BlockOutChannels.Count - 1;
    }

    /// <summary>The depth this caching uses on a UNet of <paramref name="config"/>.</summary>
    public int DepthFor(UNetConfig config) => Depth ?? DefaultDepth(config);

    /// <summary>Whether step <paramref name="index"/> of a phase (0 first) runs the whole UNet.</summary>
    public bool IsFull(int index) => !Caches || index % Interval == 0;

    /// <summary>The caching of <paramref name="options"/>, or null when it runs every step in full.</summary>
    public static StepCaching? Of(GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.CacheInterval > 1 ? new StepCaching(options.CacheInterval, options.CacheDepth) : null;
    }
}
