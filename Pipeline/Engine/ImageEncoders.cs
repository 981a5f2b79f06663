using CudaI2V.Layers.Clip;
using CudaI2V.Layers.Vae;

namespace CudaI2V.Pipeline.Engine;

/// <summary>
/// The two models only the image's encoding needs, the CLIP image encoder and the VAE's encoder half: loaded with the
/// engine, freed after use when a request's plan releases them (<see cref="MemoryPlanning.MemoryChoices.ReleaseEncoders"/>),
/// and loaded again, into blocks of their own, by the next request that needs them. Encoders given already loaded (an
/// engine assembled from memory) cannot be reloaded, so they are never released.
/// </summary>
public sealed class ImageEncoders : IDisposable
{
    private readonly Func<Loaded>? _load;
    private Loaded? _loaded;

    private ImageEncoders(Func<Loaded>? load, Loaded? loaded)
    {
        _load = load;
        _loaded = loaded;
    }

    /// <summary>Whether they can be released and loaded again.</summary>
    public bool CanRelease => _load is not null;

    /// <summary>Whether their weights are on the device now.</summary>
    public bool IsLoaded => _loaded is not null;

    /// <summary>How many times they were loaded (the first load included), for tests and logs.</summary>
    public int Loads { get; private set; }

    /// <summary>Encoders that <paramref name="load"/> loads (now, and again after each release); its blocks are freed on release.</summary>
    public static ImageEncoders Releasable(Func<(ClipVisionModelWithProjection Clip, AutoencoderKL Vae, IDisposable Blocks)> load)
    {
        ArgumentNullException.ThrowIfNull(load);
        Loaded Load()
        {
            var (clip, vae, blocks) = load();
            return new Loaded(clip, vae, blocks);
        }

        var encoders = new ImageEncoders(Load, null);
        encoders.Get();
        return encoders;
    }

    /// <summary>Encoders already loaded, kept for the engine's life.</summary>
    public static ImageEncoders Fixed(ClipVisionModelWithProjection clip, AutoencoderKL vae) =>
        new(null, new Loaded(clip ?? throw new ArgumentNullException(nameof(clip)), vae ?? throw new ArgumentNullException(nameof(vae)), null));

    /// <summary>The encoders, loaded first if they were released.</summary>
    public (ClipVisionModelWithProjection Clip, AutoencoderKL Vae) Get()
    {
        if (_loaded is null)
        {
            _loaded = _load!();
            Loads++;
        }

        return (_loaded.Clip, _loaded.Vae);
    }

    /// <summary>Frees their weights (after queued work that reads them); a no-op for encoders that cannot be reloaded.</summary>
    public void Release()
    {
        if (_load is not null && _loaded is not null)
        {
            _loaded.Blocks?.Dispose();
            _loaded = null;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _loaded?.Blocks?.Dispose();
        _loaded = null;
    }

    private sealed record Loaded(ClipVisionModelWithProjection Clip, AutoencoderKL Vae, IDisposable? Blocks);
}
