using CudaI2V.Kernels.Cuda;
using CudaI2V.Kernels.Planning;
using CudaI2V.Layers.UNet;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Engine;

/// <summary>A UNet step planned without a device (<see cref="PlannedUNetStep.PlanStep"/>).</summary>
/// <param name="Arena">The step's activations packed by liveness.</param>
/// <param name="Flops">The floating-point operations one step counts (multiply-adds as two).</param>
/// <param name="FlopsByCategory"><paramref name="Flops"/> by <c>OpCategories</c> family.</param>
/// <param name="WeightBytes">The UNet's weights in the planned dtype (outside the arena).</param>
/// <param name="StepEmbedding">The shape of the step embedding the forward takes, (B*F, T).</param>
public sealed record UNetStepPlan(ArenaPlan Arena, double Flops, IReadOnlyDictionary<string, double> FlopsByCategory, long WeightBytes, TensorShape StepEmbedding);

/// <summary>
/// The UNet step of one request on the GPU, run on a planned arena: the step is first run through
/// <see cref="PlanningOps"/> on a shape-only copy of the UNet (same config, same weight shapes), its tensors are
/// packed by liveness into one <see cref="DeviceArena"/> checked against free memory before any work, and every
/// step replays that plan, so the denoising loop allocates nothing. (Without liveness, a release-sized step would
/// need the sum of all its tensors: 57 GiB at 512x512, 197 GiB at 704x1280.)
/// </summary>
/// <remarks>
/// With <c>graphs</c>, the step is also captured as a CUDA graph: the first call runs directly (it compiles the
/// kernels and builds the GEMM plans, which a capture must not do), the second captures the forward and replays
/// it, and every later call only copies its step embedding into the graph's fixed input and replays. That is
/// possible because nothing in a step changes address: the arena is planned, the sample is the engine's one input
/// buffer, the step embedding goes through a fixed slot, and the conditioning was computed before the loop.
/// </remarks>
public sealed class PlannedUNetStep : IDisposable
{
    private readonly CudaOps _ops;
    private readonly PlannedArena _arena;
    private readonly Tensor? _slot;
    private CudaGraph? _graph;
    private Tensor? _graphSample;
    private Tensor? _graphOutput;
    private int _calls;

    private PlannedUNetStep(CudaOps ops, UNetStepPlan plan, PlannedArena arena, Tensor? slot)
    {
        _ops = ops;
        Planned = plan;
        _arena = arena;
        _slot = slot;
    }

    /// <summary>What planning the step found: the packed arena, the counted FLOPs, the weights' size.</summary>
    public UNetStepPlan Planned { get; }

    /// <summary>The packed plan (its peak is reported before the loop starts).</summary>
    public ArenaPlan Plan => _arena.Plan;

    /// <summary>The floating-point operations one step counts (multiply-adds as two).</summary>
    public double Flops => Planned.Flops;

    /// <summary><see cref="Flops"/> by <c>OpCategories</c> family.</summary>
    public IReadOnlyDictionary<string, double> FlopsByCategory => Planned.FlopsByCategory;

    /// <summary>The bytes of the UNet's weights in the backend's dtype (outside the arena).</summary>
    public long WeightBytes => Planned.WeightBytes;

    /// <summary>Whether the step replays a captured CUDA graph (from its second call).</summary>
    public bool UsesGraph => _slot is not null;

    /// <summary>
    /// Plans the step for these shapes and takes its arena. <paramref name="shapes"/> is the UNet's weight layout (key,
    /// dtype, shape), <paramref name="config"/> its config; the input shapes are the request's. With
    /// <paramref name="graphs"/> the step is captured and replayed as a CUDA graph from its second call.
    /// </summary>
    /// <exception cref="ArenaOutOfMemoryException">The plan does not fit the device's free memory.</exception>
    public static PlannedUNetStep Create(
        CudaOps ops, UNetConfig config, IReadOnlyList<WeightManifestEntry> shapes,
        TensorShape latents, TensorShape imageEmbeddings, TensorShape text, int frames, bool graphs = false, long reserve = RequestMemory.Reserve)
    {
        ArgumentNullException.ThrowIfNull(ops);
        return Create(ops, PlanStep(ops.ActivationDType, config, shapes, latents, imageEmbeddings, text, frames), graphs, reserve);
    }

    /// <summary>Takes the arena of a step planned by <see cref="PlanStep"/> (for <paramref name="ops"/>' dtype).</summary>
    /// <exception cref="ArenaOutOfMemoryException">The plan does not fit the device's free memory.</exception>
    public static PlannedUNetStep Create(CudaOps ops, UNetStepPlan plan, bool graphs = false, long reserve = RequestMemory.Reserve)
    {
        ArgumentNullException.ThrowIfNull(ops);
        ArgumentNullException.ThrowIfNull(plan);
        var arena = PlannedArena.Create(ops, plan.Arena, reserve, "UNet step arena");
        var slot = graphs ? ops.Empty(ops.ActivationDType, plan.StepEmbedding) : null;
        return new PlannedUNetStep(ops, plan, arena, slot);
    }

    /// <summary>
    /// Plans one step without touching a device: the forward runs through <see cref="PlanningOps"/> in
    /// <paramref name="dtype"/> on a shape-only UNet, and its tensors are packed by liveness.
    /// </summary>
    public static UNetStepPlan PlanStep(
        DType dtype, UNetConfig config, IReadOnlyList<WeightManifestEntry> shapes,
        TensorShape latents, TensorShape imageEmbeddings, TensorShape text, int frames)
    {
        ArgumentNullException.ThrowIfNull(shapes);
        ArgumentNullException.ThrowIfNull(latents);
        ArgumentNullException.ThrowIfNull(text);
        var planning = new PlanningOps(dtype);
        using var weights = WeightSet.Generated("unet", shapes, e => PlanningOps.ShapeOnly(e.DType, e.Shape));
        var unet = I2VGenXLUNet.Load(planning, weights, config);
        var weightBytes = planning.HostBytes;
        var batch = text[0];
        var conditioning = unet.Condition(
            planning.FromHost(PlanningOps.ShapeOnly(DType.F32, latents)),
            planning.FromHost(PlanningOps.ShapeOnly(DType.F32, imageEmbeddings)),
            planning.FromHost(PlanningOps.ShapeOnly(DType.F32, text)),
            Enumerable.Repeat(16f, batch).ToArray(),
            frames);
        var embedding = StepEmbeddingShape(latents, conditioning);
        planning.BeginRecording();
        var output = unet.Forward(
            planning.FromHost(PlanningOps.ShapeOnly(DType.F32, latents)),
            planning.FromHost(PlanningOps.ShapeOnly(DType.F32, embedding)),
            conditioning);
        return new UNetStepPlan(planning.Plan(output), planning.Flops, new Dictionary<string, double>(planning.FlopsByCategory), weightBytes, embedding);
    }

    /// <summary>The shape of the step embedding the forward takes: (B*F, T).</summary>
    private static TensorShape StepEmbeddingShape(TensorShape latents, UNetConditioning conditioning) =>
        new(latents[0], conditioning.FpsEmbedding.Shape[1]);

    /// <summary>
    /// One UNet call on the arena; the output stays valid until the next call. With graphs, every call must pass
    /// the same <paramref name="sample"/> buffer (the graph reads it by address).
    /// </summary>
    public Tensor Forward(I2VGenXLUNet unet, Tensor sample, Tensor stepEmbedding, UNetConditioning conditioning)
    {
        ArgumentNullException.ThrowIfNull(unet);
        ArgumentNullException.ThrowIfNull(sample);
        if (_slot is null || _calls++ == 0)
        {
            return Direct(unet, sample, stepEmbedding, conditioning);
        }

        if (_graph is null)
        {
            _ops.Stream.Synchronize(); // the warm-up call has finished: its kernels are loaded and its GEMM plans exist
            _graphSample = sample;
            _graph = CudaGraph.Capture(_ops.Stream, _ => _graphOutput = Direct(unet, sample, _slot, conditioning));
        }
        else if (!ReferenceEquals(sample.Storage, _graphSample!.Storage) || sample.ByteOffset != _graphSample.ByteOffset || sample.Shape != _graphSample.Shape)
        {
            throw new InvalidOperationException("A graphed UNet step reads its sample by address: pass the same input buffer at every step.");
        }

        _ops.CopyInto(stepEmbedding, _slot);
        _graph.Launch(_ops.Stream);
        return _graphOutput!;
    }

    /// <summary>One UNet call on the arena by direct launches, graphs or not (what a graph replay is compared with).</summary>
    public Tensor Direct(I2VGenXLUNet unet, Tensor sample, Tensor stepEmbedding, UNetConditioning conditioning)
    {
        ArgumentNullException.ThrowIfNull(unet);
        return _arena.Run(() => unet.Forward(sample, stepEmbedding, conditioning));
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _ops.Stream.Synchronize();
        _graph?.Dispose();
        _arena.Dispose();
    }
}
