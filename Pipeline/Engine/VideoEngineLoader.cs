using CudaI2V.Kernels;
using CudaI2V.Kernels.Memory;
using CudaI2V.Kernels.Planning;
using CudaI2V.Layers.Clip;
using CudaI2V.Layers.UNet;
using CudaI2V.Layers.Vae;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Pipeline.MemoryPlanning;
using CudaI2V.Pipeline.Text;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;
using Microsoft.Extensions.Logging;

namespace CudaI2V.Pipeline.Engine;

/// <summary>
/// The precision the VAE runs in. fp16 activations can overflow in the VAE at high resolutions, which is why diffusers'
/// <c>AutoencoderKL</c> config carries <c>force_upcast</c> (true by default); and an fp32 decode is the more accurate one.
/// </summary>
public enum VaePrecision
{
    /// <summary>
    /// fp32 when the VAE config's <c>force_upcast</c> is true and the backend stores activations in fp16 or bf16; the
    /// backend's own precision otherwise (so nothing changes on the fp32 CPU backend). diffusers' I2VGen-XL pipeline
    /// itself never reads <c>force_upcast</c>; its SD-XL and SVD pipelines upcast an fp16 VAE.
    /// </summary>
    Auto,

    /// <summary>The precision the rest of the model runs in (the backend's activation dtype), as diffusers' I2VGen-XL pipeline does.</summary>
    Model,

    /// <summary>Always fp32.</summary>
    Fp32,
}

/// <summary>How to load a <see cref="VideoEngine"/>.</summary>
/// <param name="Cache">The cache root (built text-encoder models, prompt embeddings; compiled kernels of a second, fp32 CUDA backend for the VAE).</param>
/// <param name="Variant">Which weight files to load where both precisions exist (the backend's default when null; an fp32 VAE prefers the fp32 file).</param>
/// <param name="Log">Receives one-line notes (which text-encoder provider runs, the VAE's precision, config notes, truncated prompts).</param>
/// <param name="Ops">The backend the UNet, VAE and image encoder run on (when null, <paramref name="Backend"/> chooses); the engine disposes it when it is disposable.</param>
/// <param name="VaePrecision">
/// The VAE's precision (<see cref="VaePrecision.Auto"/> by default). Where it differs from the backend's, the VAE runs on a
/// peer backend in fp32 on the same device (<see cref="IOps.CreatePeer"/>), which the engine owns and disposes before the first.
/// </param>
/// <param name="Backend">
/// Where to run when <paramref name="Ops"/> is null: the GPU when one works, else the CPU with a note saying why
/// (<see cref="EngineBackend.Auto"/>, the default), the CPU, or the GPU only (<see cref="GpuUnavailableException"/> without one).
/// </param>
/// <param name="Logger">Receives the same notes as <paramref name="Log"/> (warnings at <c>LogLevel.Warning</c>).</param>
/// <param name="MemoryBudget">The most memory a request may hold on the device, weights included, in bytes (<see cref="VideoEngine.MemoryBudget"/>; null: its free memory).</param>
public sealed record EngineLoadOptions(
    CacheRoot Cache, WeightVariant? Variant = null, Action<string>? Log = null, IOps? Ops = null, VaePrecision VaePrecision = VaePrecision.Auto,
    EngineBackend Backend = EngineBackend.Auto, ILogger? Logger = null, long? MemoryBudget = null);

/// <summary>Loads every component of a pipeline folder into a <see cref="VideoEngine"/> on a backend (the GPU when one works, by default).</summary>
public static class VideoEngineLoader
{
    /// <summary>
    /// Loads the pipeline folder <paramref name="model"/>: the UNet, VAE and CLIP image encoder on the chosen backend
    /// (<see cref="EngineLoadOptions.Backend"/>: the GPU when one works by default, else the fp32 CPU reference; fp16 weights are preferred on the GPU), the VAE in the precision of
    /// <see cref="EngineLoadOptions.VaePrecision"/> (on a second, fp32 backend where that differs: see
    /// <see cref="CreateVaeBackend"/>), and the text encoder through ONNX Runtime. Throws <see cref="ModelFileException"/>
    /// naming what is missing or wrong.
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

        // Every config is read and the components' agreement checked before any weight is opened.
        PipelineChecks.Check(model);
        var log = EngineLog.Combine(options.Log, options.Logger);
        foreach (var note in model.UNet.Notes)
        {
            log?.Invoke($"note: {note}");
        }

        var ops = options.Ops ?? EngineBackends.Open(options.Backend, options.Cache, log);
        var preferred = WeightFiles.DefaultFor(ops.ActivationDType);
        var owned = new DisposableGroup();
        try
        {
            if (ops is IDisposable disposableOps)
            {
                owned.Add(disposableOps);
            }

            // Added after ops, so disposed before it: ops may own the CUDA context the VAE's backend runs on.
            var vaeOps = CreateVaeBackend(ops, options.VaePrecision, model.Vae, log);
            if (!ReferenceEquals(vaeOps, ops) && vaeOps is IDisposable disposableVaeOps)
            {
                owned.Add(disposableVaeOps);
            }

            var unetWeights = owned.Add(model.Get(ComponentKind.Unet).OpenWeights(options.Variant, preferred));
            var vaePreferred = WeightFiles.DefaultFor(vaeOps.ActivationDType);
            var vaeWeights = owned.Add(model.Get(ComponentKind.Vae).OpenWeights(options.Variant, vaePreferred));
            var clipWeights = owned.Add(model.Get(ComponentKind.ImageEncoder).OpenWeights(options.Variant, preferred));
            var vaeLayout = vaeWeights.Layout();
            var decoderLayout = vaeLayout.Where(e => !ComponentWeights.IsVaeEncoderKey(e.Key)).ToList();
            var encoderLayout = vaeLayout.Where(e => ComponentWeights.IsVaeEncoderKey(e.Key)).ToList();

            // Each model in weight blocks of its own, uploaded when a stage first needs it and freed when a request's
            // plan needs the room (uploaded again when next needed).
            var unet = LoadableModel.Releasable<I2VGenXLUNet>("the UNet", () =>
            {
                var block = ops.Memory.UploadReleasableWeightsInto(unetWeights.Layout().Select(e => e.Shape));
                var loaded = I2VGenXLUNet.Load(ops, unetWeights, model.UNet);
                block.EndUpload();
                return (loaded, block);
            });
            var decoder = LoadableModel.Releasable<AutoencoderKL>("the VAE decoder", () =>
            {
                var block = vaeOps.Memory.UploadReleasableWeightsInto(decoderLayout.Select(e => e.Shape));
                var loaded = AutoencoderKL.Load(vaeOps, vaeWeights, model.Vae, VaeParts.Decoder);
                block.EndUpload();
                return (loaded, block);
            });
            var encoders = LoadableModel.Releasable<ImageEncoderModels>("the image encoders", () =>
            {
                var clipBlock = ops.Memory.UploadReleasableWeightsInto(clipWeights.Layout().Select(e => e.Shape));
                var clip = ClipVisionModelWithProjection.Load(ops, clipWeights, model.ImageEncoder);
                clipBlock.EndUpload();
                var vaeBlock = vaeOps.Memory.UploadReleasableWeightsInto(encoderLayout.Select(e => e.Shape));
                var encoder = AutoencoderKL.Load(vaeOps, vaeWeights, model.Vae, VaeParts.Encoder);
                vaeBlock.EndUpload();
                return (new ImageEncoderModels(clip, encoder), new Blocks(clipBlock, vaeBlock));
            });
            var models = new EngineModels(
                encoders, unet, decoder, vaeOps, model.UNet, model.Vae, model.ImageEncoder, unetWeights.Layout(), vaeLayout, clipWeights.Layout());
            owned.Add(models);
            var weights = ComponentWeights.Of(ops.ActivationDType, unetWeights.Layout(), clipWeights.Layout(), vaeOps.ActivationDType, vaeLayout);
            if (LoadOrCheck(models, ops, weights, options.MemoryBudget, log))
            {
                vaeWeights.EnsureAllUsed();
            }

            foreach (var backend in new[] { ops, vaeOps }.Distinct().Where(b => b.Memory.WeightBlockOverflow > 0))
            {
                log?.Invoke($"note: {ArenaPlan.FormatBytes(backend.Memory.WeightBlockOverflow)} of weights did not fit their planned block and were allocated apart (a sizing error worth reporting).");
            }

            var prompts = owned.Add(PromptEncoder.Open(model, new PromptEncoderOptions(options.Cache, options.Variant, Log: log)));
            return new VideoEngine(ops, prompts, models, model.FeatureExtractor, model.SchedulerConfigPath, owned)
            {
                Log = log,
                MemoryBudget = options.MemoryBudget,
                Weights = weights,
                WeightFiles = [.. new[] { unetWeights, vaeWeights, clipWeights }.SelectMany(w => w.Keys.Select(w.FileOf)).OfType<string>().Distinct(StringComparer.Ordinal)],
            };
        }
        catch
        {
            owned.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Uploads every model now when all their weights fit at once, beside the device overhead, in the budget and in the
    /// device's free memory (the usual case: requests then start at once). Otherwise each model is uploaded when a
    /// request's stage first needs it, and here only bound to its layout on the planning recorder (every key used, every
    /// shape right), so a wrong file still fails at load.
    /// </summary>
    /// <returns>Whether the models were uploaded.</returns>
    private static bool LoadOrCheck(EngineModels models, IOps ops, ComponentWeights weights, long? budget, Action<string>? log)
    {
        var room = Math.Min(budget ?? long.MaxValue, ops.Memory.AvailableBytes);
        if (weights.Total + MemoryPlanner.DeviceOverhead <= room)
        {
            models.Encoders.Get();
            models.UNet.Get();
            models.Decoder.Get();
            return true;
        }

        var planning = new PlanningOps(ops.ActivationDType);
        I2VGenXLUNet.Load(planning, PlannedUNetStep.ShapeOnly("unet", models.UNetShapes), models.UNetConfig);
        ClipVisionModelWithProjection.Load(planning, PlannedUNetStep.ShapeOnly("image_encoder", models.ImageEncoderShapes), models.ImageEncoderConfig);
        AutoencoderKL.Load(new PlanningOps(models.VaeOps.ActivationDType), PlannedUNetStep.ShapeOnly("vae", models.VaeShapes, WeightAliases.LegacyVaeAttention), models.VaeConfig);
        log?.Invoke(
            $"the models' weights ({ArenaPlan.FormatBytes(weights.Total)}) do not fit in {ArenaPlan.FormatBytes(room)} at once: each is uploaded when a request's stage needs it.");
        return false;
    }

    /// <summary>
    /// The dtype the VAE runs in: F32 for <see cref="VaePrecision.Fp32"/>; the backend's <paramref name="backend"/> for
    /// <see cref="VaePrecision.Model"/>; for <see cref="VaePrecision.Auto"/>, F32 when <paramref name="forceUpcast"/>
    /// and the backend is F16 or BF16, else the backend's.
    /// </summary>
    public static DType VaeDType(VaePrecision precision, bool forceUpcast, DType backend) => precision switch
    {
        VaePrecision.Fp32 => DType.F32,
        VaePrecision.Model => backend,
        VaePrecision.Auto => forceUpcast && (backend is DType.F16 or DType.BF16) ? DType.F32 : backend,
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, "Auto, Model or Fp32."),
    };

    /// <summary>
    /// The backend the VAE runs on: <paramref name="ops"/> itself when it already runs in the VAE's dtype
    /// (<see cref="VaeDType"/>); otherwise a peer of it in that dtype on the same device (<see cref="IOps.CreatePeer"/>:
    /// its own stream, workspace and library handles), which the caller owns and must dispose before <paramref name="ops"/>.
    /// A backend that offers no other dtype keeps the VAE in its own with a note for <see cref="VaePrecision.Auto"/>, and
    /// is refused for <see cref="VaePrecision.Fp32"/>.
    /// </summary>
    public static IOps CreateVaeBackend(IOps ops, VaePrecision precision, VaeConfig config, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(ops);
        ArgumentNullException.ThrowIfNull(config);
        var dtype = VaeDType(precision, config.ForceUpcast, ops.ActivationDType);
        if (dtype == ops.ActivationDType)
        {
            return ops;
        }

        var why = precision == VaePrecision.Fp32 ? "asked for" : "the VAE config's force_upcast";
        var peer = ops.CreatePeer(dtype);
        if (peer is null)
        {
            if (precision == VaePrecision.Fp32)
            {
                throw new NotSupportedException($"An fp32 VAE needs the CPU or CUDA backend; the {ops.Name} backend runs in {ops.ActivationDType} only.");
            }

            log?.Invoke($"note: {why} asks for an fp32 VAE, but the {ops.Name} backend runs in {ops.ActivationDType} only; the VAE runs in {ops.ActivationDType}.");
            return ops;
        }

        log?.Invoke($"VAE in {dtype} ({why}) on a second {ops.Name} backend; the UNet and image encoder in {ops.ActivationDType}.");
        return peer;
    }

    /// <summary>The encoders' two blocks, freed together.</summary>
    private sealed class Blocks(IWeightBlock clip, IWeightBlock vae) : IDisposable
    {
        public void Dispose()
        {
            vae.Dispose();
            clip.Dispose();
        }
    }

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
