using CudaI2V.Kernels;
using CudaI2V.Kernels.Memory;
using CudaI2V.Kernels.Planning;
using CudaI2V.Layers.Modules;
using CudaI2V.Layers.UNet;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Engine;

/// <summary>A UNet step planned without a device (<see cref="PlannedUNetStep.PlanStep"/>).</summary>
/// <param name="Forward">The planned forward of one UNet run: its arena, counted FLOPs and op count.</param>
/// <param name="WeightBytes">The UNet's weights in the planned dtype (outside the arena).</param>
/// <param name="StepEmbedding">The shape of the step embedding one run takes, (B*F, T) for its B videos.</param>
/// <param name="Runs">UNet runs per step: 2 when the guided batch's two videos run one after the other, else 1.</param>
/// <param name="FeedForwardHiddenBytes">The feed-forward's chunk bound (<c>LayerChunking.FeedForwardHiddenBytes</c>).</param>
/// <param name="ConditioningBytes">What the request holds outside the arena through the loop: the conditioning's tensors, for all runs (its temporaries are freed once it is computed).</param>
/// <param name="Sample">The shape of one run's sample, (B*F, h, w, in), when known.</param>
/// <param name="SpatialImages">Frame-images the spatial layers take at a time (<c>LayerChunking.SpatialImages</c>).</param>
public sealed record UNetStepPlan(
    ForwardPlan Forward, long WeightBytes, TensorShape StepEmbedding, int Runs = 1, long FeedForwardHiddenBytes = FeedForward.MaxHiddenBytes, long ConditioningBytes = 0,
    TensorShape? Sample = null, int SpatialImages = int.MaxValue)
{
    /// <summary>The step's activations packed by liveness.</summary>
    public ArenaPlan Arena => Forward.Arena;

    /// <summary>The floating-point operations one step counts (multiply-adds as two).</summary>
    public double Flops => Forward.Flops;

    /// <summary><see cref="Flops"/> by <c>OpCategories</c> family.</summary>
    public IReadOnlyDictionary<string, double> FlopsByCategory => Forward.FlopsByCategory;

    /// <summary>Everything computing the conditioning creates, before its temporaries are freed (without reuse, as a scope holds it), for all runs.</summary>
    public long ConditioningPeakBytes { get; init; }

    /// <summary>One step's embedding for all runs, as computed before the loop (every step's is kept through it).</summary>
    public long StepEmbeddingBytes { get; init; }

    /// <summary>
    /// The loop's buffers outside the arena for all runs: the UNet's input, the F32 latents the sampler updates, and with
    /// runs one after the other the joined output.
    /// </summary>
    public long BufferBytes { get; init; }

    /// <summary>The step kind under step caching (null: the whole UNet, nothing cached).</summary>
    public UNetStepKind? Kind { get; init; }

    /// <summary>The deep-feature cache of all runs in the planned dtype (0 without caching): held outside the arenas through the loop.</summary>
    public long DeepFeatureBytes { get; init; }

    /// <summary>On a full step's plan under caching, the cached step's plan: a second graph, its arena in the same block as this one's (the larger's).</summary>
    public UNetStepPlan? Cached { get; init; }

    /// <summary>
    /// What the denoising loop holds outside the weights (but for the sampler's history and the step embeddings, which
    /// depend on the schedule): this arena (under caching the larger of the two step kinds' arenas, which share one
    /// block: they never run at once), the libraries' reserve beside it, the conditioning, the loop's buffers, and under
    /// caching the deep-feature cache; or, if more, what computing the conditioning holds before its temporaries are freed.
    /// </summary>
    public long LoopBytes =>
        Math.Max(ConditioningPeakBytes, Math.Max(Arena.Peak, Cached?.Arena.Peak ?? 0) + RequestMemory.Reserve + ConditioningBytes + BufferBytes + (Cached is null ? 0 : DeepFeatureBytes));

    /// <summary>The full steps among <paramref name="steps"/> steps of one pass under <paramref name="caching"/> (all without it).</summary>
    public static int FullSteps(StepCaching? caching, int steps) => Enumerable.Range(0, steps).Count(i => caching?.IsFull(i) != false);

    /// <summary>
    /// The ops (about one kernel launch each) of <paramref name="steps"/> steps of one pass (every run of each): the
    /// full steps at this forward's, the cached ones at <see cref="Cached"/>'s, as <see cref="FlopsOf"/> counts FLOPs.
    /// </summary>
    public long OpsOf(StepCaching? caching, int steps)
    {
        var full = Cached is null ? steps : FullSteps(caching, steps);
        return (long)Runs * (((long)full * Forward.Ops) + ((long)(steps - full) * (Cached?.Forward.Ops ?? 0)));
    }

    /// <summary>
    /// The counted FLOPs of <paramref name="steps"/> steps of one pass (every run of each): the full steps at
    /// <see cref="Flops"/>, the cached ones at <see cref="Cached"/>'s (when this plan has one and <paramref name="caching"/> caches).
    /// </summary>
    public double FlopsOf(StepCaching? caching, int steps)
    {
        var full = Cached is null ? steps : FullSteps(caching, steps);
        return Runs * ((full * Flops) + ((steps - full) * (Cached?.Flops ?? 0)));
    }
}

/// <summary>A UNet step kind under step caching (docs/step-caching.md).</summary>
/// <param name="Depth">The up block whose input is cached.</param>
/// <param name="Reuse">False: a full step that stores the deep feature; true: a cached step (the shallow branch only).</param>
public sealed record UNetStepKind(int Depth, bool Reuse);

/// <summary>
/// The UNet step of one request as a <see cref="PlannedForward"/> (on every backend): planned on a shape-only copy of
/// the UNet (same config, same weight shapes), run on its arena so that the denoising loop allocates nothing, and from
/// its second call replayed as a graph when asked. (Without liveness, a release-sized step would need the sum of all
/// its tensors: 57 GiB at 512x512, 197 GiB at 704x1280.)
/// </summary>
/// <remarks>
/// A replay reads its inputs by address, so the step takes them from fixed buffers: the sample is the engine's one
/// input buffer (the same tensor at every call, checked), the step embedding is copied into a slot of this object, and
/// the conditioning was computed before the loop.
/// </remarks>
public sealed class PlannedUNetStep : IDisposable
{
    private readonly IOps _ops;
    private readonly PlannedForward _forward;
    private readonly Tensor _slot;
    private readonly Tensor? _joined;
    private Tensor? _sample;
    private UNetConditioning? _conditioning;
    private UNetConditioning[] _videos = [];

    private PlannedUNetStep(IOps ops, UNetStepPlan plan, PlannedForward forward, Tensor slot, Tensor? joined)
    {
        _ops = ops;
        Planned = plan;
        _forward = forward;
        _slot = slot;
        _joined = joined;
    }

    /// <summary>What planning the step found: the packed arena, the counted FLOPs, the weights' size.</summary>
    public UNetStepPlan Planned { get; }

    /// <summary>The packed plan (its peak is reported before the loop starts).</summary>
    public ArenaPlan Plan => Planned.Arena;

    /// <summary>Whether the step replays a graph from its second call.</summary>
    public bool UsesGraph => _forward.UsesGraph;

    /// <summary>
    /// Takes the arena of a step planned by <see cref="PlanStep"/> (for <paramref name="ops"/>' dtype); with
    /// <paramref name="over"/>, a step of at least this arena that never runs at the same time (the other kind under
    /// step caching), in that one's memory.
    /// </summary>
    /// <exception cref="ArenaOutOfMemoryException">The plan does not fit the backend's available memory.</exception>
    public static PlannedUNetStep Create(IOps ops, UNetStepPlan plan, bool graphs = false, long reserve = RequestMemory.Reserve, PlannedUNetStep? over = null)
    {
        ArgumentNullException.ThrowIfNull(ops);
        ArgumentNullException.ThrowIfNull(plan);
        if (plan.Runs > 1 && plan.Sample is null)
        {
            throw new ArgumentException("A step of several runs needs the plan's sample shape (PlanStep records it).", nameof(plan));
        }

        var forward = PlannedForward.Create(ops, plan.Forward, reserve, over is null ? "UNet step arena" : "cached UNet step arena", graphs, over?._forward);

        // The runs' outputs are joined outside the arena (each run's output is overwritten by the next run).
        var joined = plan.Runs > 1 ? ops.Empty(ops.ActivationDType, new TensorShape(plan.Runs * plan.Sample![0], plan.Sample[1], plan.Sample[2], plan.Sample[3])) : null;
        return new PlannedUNetStep(ops, plan, forward, ops.Empty(ops.ActivationDType, plan.StepEmbedding), joined);
    }

    /// <summary>
    /// Plans one step without touching a device: the forward runs through <see cref="PlanningOps"/> in
    /// <paramref name="dtype"/> on a shape-only UNet, and its tensors are packed by liveness. The shapes are one run's;
    /// <paramref name="runs"/> runs make a step (the guided batch's videos one after the other), with the feed-forward
    /// chunked under <paramref name="feedForwardHiddenBytes"/> and the spatial layers over <paramref name="spatialImages"/>
    /// frame-images at a time.
    /// </summary>
    public static UNetStepPlan PlanStep(
        DType dtype, UNetConfig config, IReadOnlyList<WeightManifestEntry> shapes,
        TensorShape latents, TensorShape imageEmbeddings, TensorShape text, int frames, int runs = 1, long feedForwardHiddenBytes = FeedForward.MaxHiddenBytes,
        int spatialImages = int.MaxValue, UNetStepKind? kind = null)
    {
        ArgumentNullException.ThrowIfNull(shapes);
        ArgumentNullException.ThrowIfNull(latents);
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfLessThan(runs, 1);
        TensorShape? embedding = null;
        long conditioningBytes = 0, conditioningPeak = 0, embeddingBytes = 0, featureBytes = 0;
        var forward = PlannedForward.Record(dtype, planning =>
        {
            using var weights = ShapeOnly("unet", shapes);
            var unet = I2VGenXLUNet.Load(planning, weights, config);
            unet.Chunking.FeedForwardHiddenBytes = feedForwardHiddenBytes;
            unet.Chunking.SpatialImages = spatialImages;
            var conditioning = unet.Condition(
                Input(planning, latents), Input(planning, imageEmbeddings), Input(planning, text), Enumerable.Repeat(16f, text[0]).ToArray(), frames);
            conditioningPeak = runs * planning.RecordedBytes;
            conditioningBytes = runs * DistinctBytes(ConditioningTensors(conditioning));
            _ = unet.StepEmbedding(0f, conditioning);
            embeddingBytes = runs * (planning.RecordedBytes - (conditioningPeak / runs));
            embedding = new TensorShape(latents[0], conditioning.FpsEmbedding.Shape[1]);
            var sample = Input(planning, latents);
            var stepEmbedding = Input(planning, embedding);
            if (kind is null)
            {
                return () => unet.Forward(sample, stepEmbedding, conditioning);
            }

            var feature = Input(planning, unet.DeepFeatureShape(latents, kind.Depth));
            featureBytes = runs * feature.Shape.ElementCount * feature.DType.SizeOf();
            return () => unet.Forward(sample, stepEmbedding, conditioning, new DeepFeature(kind.Depth, feature, kind.Reuse));
        });
        // The UNet input (and joined output) hold every run's rows; the sampler's F32 latents hold one video's frames.
        var inputBytes = runs * latents.ElementCount * dtype.SizeOf();
        var latentBytes = latents.ElementCount / latents[0] * frames * sizeof(float);
        return new UNetStepPlan(forward, WeightBytes(dtype, shapes), embedding!, runs, feedForwardHiddenBytes, conditioningBytes, latents, spatialImages)
        {
            Kind = kind,
            DeepFeatureBytes = featureBytes,
            ConditioningPeakBytes = conditioningPeak,
            StepEmbeddingBytes = embeddingBytes,
            BufferBytes = (inputBytes * (runs > 1 ? 2 : 1)) + latentBytes,
        };
    }

    /// <summary>
    /// The two plans of a step under caching at <paramref name="depth"/>: the full step (which stores the deep feature)
    /// carrying the cached step's plan (<see cref="UNetStepPlan.Cached"/>), under the same choices.
    /// </summary>
    public static UNetStepPlan PlanCachedSteps(
        DType dtype, UNetConfig config, IReadOnlyList<WeightManifestEntry> shapes,
        TensorShape latents, TensorShape imageEmbeddings, TensorShape text, int frames, int runs, long feedForwardHiddenBytes, int depth, int spatialImages = int.MaxValue)
    {
        var full = PlanStep(dtype, config, shapes, latents, imageEmbeddings, text, frames, runs, feedForwardHiddenBytes, spatialImages, new UNetStepKind(depth, false));
        var cached = PlanStep(dtype, config, shapes, latents, imageEmbeddings, text, frames, runs, feedForwardHiddenBytes, spatialImages, new UNetStepKind(depth, true));
        return full with { Cached = cached };
    }

    /// <summary>
    /// One UNet call on the arena; the output stays valid until the next call. Every call must pass the same
    /// <paramref name="sample"/> buffer (a replay reads it by address). A plan of several runs runs each video of the
    /// batch on its own (each with its own graph) and joins their outputs: the same values as one batched run, since
    /// every layer treats each video on its own.
    /// </summary>
    public Tensor Forward(I2VGenXLUNet unet, Tensor sample, Tensor stepEmbedding, UNetConditioning conditioning, Tensor? deepFeature = null)
    {
        ArgumentNullException.ThrowIfNull(unet);
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(stepEmbedding);
        _sample ??= sample;
        if (!ReferenceEquals(sample.Storage, _sample.Storage) || sample.ByteOffset != _sample.ByteOffset || sample.Shape != _sample.Shape)
        {
            throw new InvalidOperationException("A planned UNet step reads its sample by address: pass the same input buffer at every step.");
        }

        unet.Chunking.FeedForwardHiddenBytes = Planned.FeedForwardHiddenBytes;
        unet.Chunking.SpatialImages = Planned.SpatialImages;
        if (_joined is null)
        {
            _ops.CopyInto(stepEmbedding, _slot);
            var cache = Cache(deepFeature, 0);
            return _forward.Run(() => cache is null ? unet.Forward(sample, _slot, conditioning) : unet.Forward(sample, _slot, conditioning, cache));
        }

        if (!ReferenceEquals(conditioning, _conditioning))
        {
            if (conditioning.Batch != Planned.Runs)
            {
                throw new ArgumentException($"This step was planned to run {Planned.Runs} videos one at a time; the conditioning has {conditioning.Batch}.", nameof(conditioning));
            }

            _conditioning = conditioning;
            _videos = [.. Enumerable.Range(0, Planned.Runs).Select(conditioning.Video)];
        }

        var rows = _slot.Shape[0];
        for (var run = 0; run < Planned.Runs; run++)
        {
            var part = sample.Slice(0, run * rows, rows);
            var video = _videos[run];
            _ops.CopyInto(stepEmbedding.Slice(0, run * rows, rows), _slot);
            var cache = Cache(deepFeature, run);
            var output = _forward.Run(() => cache is null ? unet.Forward(part, _slot, video) : unet.Forward(part, _slot, video, cache), run);
            _ops.CopyInto(output, _joined.Slice(0, run * rows, rows));
        }

        return _joined;
    }

    /// <summary>The deep-feature cache of run <paramref name="run"/> (its rows of the whole cache), or null for a step planned without caching.</summary>
    private DeepFeature? Cache(Tensor? deepFeature, int run)
    {
        if (Planned.Kind is not { } kind)
        {
            return deepFeature is null ? null : throw new ArgumentException("This step was planned without step caching; pass no deep feature.", nameof(deepFeature));
        }

        if (deepFeature is null)
        {
            throw new ArgumentException("A step planned with step caching reads and writes the deep-feature cache; pass it.", nameof(deepFeature));
        }

        var rows = deepFeature.Shape[0] / Planned.Runs;
        return new DeepFeature(kind.Depth, Planned.Runs == 1 ? deepFeature : deepFeature.Slice(0, run * rows, rows), kind.Reuse);
    }

    /// <summary>One UNet call on the arena by direct launches, graphs or not (what a replay is compared with).</summary>
    public Tensor Direct(I2VGenXLUNet unet, Tensor sample, Tensor stepEmbedding, UNetConditioning conditioning)
    {
        ArgumentNullException.ThrowIfNull(unet);
        unet.Chunking.FeedForwardHiddenBytes = Planned.FeedForwardHiddenBytes;
        unet.Chunking.SpatialImages = Planned.SpatialImages;
        return _forward.RunDirect(() => unet.Forward(sample, stepEmbedding, conditioning));
    }

    /// <summary>Every tensor a conditioning holds through the loop (views of one storage may repeat).</summary>
    internal static IEnumerable<Tensor> ConditioningTensors(UNetConditioning conditioning) =>
        [conditioning.Context, conditioning.ImageStream, conditioning.FpsEmbedding, .. conditioning.CrossKeyValues?.Tensors ?? []];

    /// <summary>The bytes of the storages under <paramref name="tensors"/>, each counted once.</summary>
    internal static long DistinctBytes(IEnumerable<Tensor> tensors) =>
        tensors.Select(t => t.Storage).Distinct<TensorStorage>(ReferenceEqualityComparer.Instance).Sum(s => s.ByteLength);

    /// <summary>A shape-only weight set of <paramref name="shapes"/> (nothing is read or allocated), for planning.</summary>
    internal static WeightSet ShapeOnly(string component, IReadOnlyList<WeightManifestEntry> shapes, WeightAliases? aliases = null) =>
        WeightSet.Generated(component, shapes, e => PlanningOps.ShapeOnly(e.DType, e.Shape), aliases);

    /// <summary>A shape-only F32 input uploaded to the recorder (outside the plan, as the engine's uploads are).</summary>
    internal static Tensor Input(PlanningOps planning, TensorShape shape) => planning.FromHost(PlanningOps.ShapeOnly(DType.F32, shape));

    /// <summary>The bytes of a weight layout stored in <paramref name="dtype"/>.</summary>
    internal static long WeightBytes(DType dtype, IReadOnlyList<WeightManifestEntry> shapes) => shapes.Sum(e => e.Shape.ElementCount * dtype.SizeOf());

    /// <inheritdoc/>
    public void Dispose() => _forward.Dispose();
}
