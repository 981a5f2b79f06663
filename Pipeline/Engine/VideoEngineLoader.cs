using CudaI2V.Kernels;
using CudaI2V.Kernels.Cpu;
using CudaI2V.Layers.Clip;
using CudaI2V.Layers.UNet;
using CudaI2V.Layers.Vae;
using CudaI2V.Loader;
using CudaI2V.Pipeline.Text;
using CudaI2V.Runtime.Caching;

namespace CudaI2V.Pipeline.Engine;

/// <summary>How to load a <see cref="VideoEngine"/>.</summary>
/// <param name="Cache">The cache root (built text-encoder models, prompt embeddings).</param>
/// <param name="Variant">Which weight files to load where both precisions exist (the backend's default when null).</param>
/// <param name="Log">Receives one-line notes (which text-encoder provider runs, config notes, truncated prompts).</param>
/// <param name="Ops">The backend the UNet, VAE and image encoder run on (the fp32 CPU reference when null); the engine disposes it when it is disposable.</param>
public sealed record EngineLoadOptions(CacheRoot Cache, WeightVariant? Variant = null, Action<string>? Log = null, IOps? Ops = null);

/// <summary>Loads every component of a pipeline folder into a <see cref="VideoEngine"/> on a backend (the CPU by default).</summary>
public static class VideoEngineLoader
{
    /// <summary>
    /// Loads the pipeline folder <paramref name="model"/>: the UNet, VAE and CLIP image encoder on the chosen backend
    /// (the fp32 CPU reference by default; fp16 weights are preferred on the GPU), and the text encoder through ONNX Runtime. Throws <see cref="ModelFileException"/> naming what is
    /// missing or wrong.
    /// </summary>
    public static VideoEngine Load(ModelDirectory model, EngineLoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        if (!model.IsPipeline)
        {
            throw new ModelFileException(
                $"{model.Root} holds one component; generating needs the whole pipeline folder (with model_index.json), such as a download of ali-vilab/i2vgen-xl.",
                model.Root);
        }

        foreach (var note in model.UNet.Notes)
        {
            options.Log?.Invoke($"note: {note}");
        }

        var ops = options.Ops ?? new CpuOps();
        var preferred = WeightFiles.DefaultFor(gpu: ops is not CpuOps);
        var owned = new DisposableGroup();
        try
        {
            if (ops is IDisposable disposableOps)
            {
                owned.Add(disposableOps);
            }

            var unetWeights = owned.Add(model.Get(ComponentKind.Unet).OpenWeights(options.Variant, preferred));
            var unet = I2VGenXLUNet.Load(ops, unetWeights, model.UNet);
            var vaeWeights = owned.Add(model.Get(ComponentKind.Vae).OpenWeights(options.Variant, preferred));
            var vae = AutoencoderKL.Load(ops, vaeWeights, model.Vae);
            var clipWeights = owned.Add(model.Get(ComponentKind.ImageEncoder).OpenWeights(options.Variant, preferred));
            var imageEncoder = ClipVisionModelWithProjection.Load(ops, clipWeights, model.ImageEncoder);
            var prompts = owned.Add(PromptEncoder.Open(model, new PromptEncoderOptions(options.Cache, options.Variant, Log: options.Log)));
            return new VideoEngine(ops, prompts, imageEncoder, vae, unet, model.FeatureExtractor, model.Scheduler, owned, Layout(unetWeights), Layout(vaeWeights))
            {
                Log = options.Log,
            };
        }
        catch
        {
            owned.Dispose();
            throw;
        }
    }

    /// <summary>The (key, dtype, shape) of every weight a model binds: what planning its forward on an arena needs.</summary>
    private static List<WeightManifestEntry> Layout(WeightSet weights) =>
        [.. weights.Keys.Where(k => !WeightSet.IsIgnoredBuffer(k)).Select(k => new WeightManifestEntry(k, weights.DTypeOf(k), weights.ShapeOf(k), null))];

    private sealed class DisposableGroup : IDisposable
    {
        private readonly List<IDisposable> _items = [];

        public T Add<T>(T item)
            where T : IDisposable
        {
            _items.Add(item);
            return item;
        }

        public void Dispose()
        {
            foreach (var item in Enumerable.Reverse(_items))
            {
                item.Dispose();
            }

            _items.Clear();
        }
    }
}
