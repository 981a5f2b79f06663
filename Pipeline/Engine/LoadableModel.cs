using CudaI2V.Layers.Clip;
using CudaI2V.Layers.Vae;

namespace CudaI2V.Pipeline.Engine;

/// <summary>The two models only the image's encoding needs: the CLIP image encoder and the VAE's encoder half.</summary>
/// <param name="Clip">The CLIP image encoder.</param>
/// <param name="Vae">The VAE with its encoder (and quant_conv).</param>
public sealed record ImageEncoderModels(ClipVisionModelWithProjection Clip, AutoencoderKL Vae);

/// <summary>
/// One of the engine's models on its device: uploaded, into weight blocks of its own, when a request's stage first needs
/// it, freed when a request's plan says the next stage needs the room (<see cref="MemoryPlanning.WeightResidency"/>),
/// and uploaded again by the next stage that needs it. A model given already loaded (an engine assembled from loaded
/// models) cannot be uploaded again, so it is never freed.
/// </summary>
/// <typeparam name="T">The model.</typeparam>
public sealed class LoadableModel<T> : IDisposable
    where T : class
{
    private readonly Func<(T Model, IDisposable Blocks)>? _load;
    private T? _model;
    private IDisposable? _blocks;

    internal LoadableModel(string name, Func<(T, IDisposable)>? load, T? model)
    {
        Name = name;
        _load = load;
        _model = model;
    }

    /// <summary>The model's name in logs ("the UNet").</summary>
    public string Name { get; }

    /// <summary>Whether it can be freed and uploaded again.</summary>
    public bool CanRelease => _load is not null;

    /// <summary>Whether its weights are on the device now.</summary>
    public bool IsLoaded => _model is not null;

    /// <summary>How many times it was uploaded (the first included), for tests and logs.</summary>
    public int Loads { get; private set; }

    /// <summary>The model, uploaded first if it is not on the device.</summary>
    public T Get()
    {
        if (_model is null)
        {
            var (model, blocks) = _load!();
            _model = model;
            _blocks = blocks;
            Loads++;
        }

        return _model;
    }

    /// <summary>Frees its weights (after queued work that reads them); a no-op for a model that cannot be uploaded again, or is not loaded.</summary>
    public void Release()
    {
        if (_load is not null && _model is not null)
        {
            _blocks?.Dispose();
            _blocks = null;
            _model = null;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _blocks?.Dispose();
        _blocks = null;
        _model = null;
    }
}

/// <summary>Makes <see cref="LoadableModel{T}"/>s.</summary>
public static class LoadableModel
{
    /// <summary>A model that <paramref name="load"/> uploads when first needed, and again after each release; the blocks it returns are freed on release.</summary>
    public static LoadableModel<T> Releasable<T>(string name, Func<(T Model, IDisposable Blocks)> load)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(load);
        return new LoadableModel<T>(name, load, null);
    }

    /// <summary>A model already loaded, kept for the engine's life.</summary>
    public static LoadableModel<T> Fixed<T>(string name, T model)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(name);
        return new LoadableModel<T>(name, null, model ?? throw new ArgumentNullException(nameof(model)));
    }

}
