using CudaI2V.Kernels;
using CudaI2V.Kernels.Memory;
using CudaI2V.Kernels.Planning;
using CudaI2V.Layers.UNet;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Engine;

/// <summary>A UNet step planned without a device (<see cref="PlannedUNetStep.PlanStep"/>).</summary>
/// <param name="Forward">The step's planned forward: its arena, counted FLOPs and op count.</param>
/// <param name="WeightBytes">The UNet's weights in the planned dtype (outside the arena).</param>
/// <param name="StepEmbedding">The shape of the step embedding the forward takes, (B*F, T).</param>
public sealed record UNetStepPlan(ForwardPlan Forward, long WeightBytes, TensorShape StepEmbedding)
{
    /// <summary>The step's activations packed by liveness.</summary>
    public ArenaPlan Arena => Forward.Arena;

    /// <summary>The floating-point operations one step counts (multiply-adds as two).</summary>
    public double Flops => Forward.Flops;

    /// <summary><see cref="Flops"/> by <c>OpCategories</c> family.</summary>
    public IReadOnlyDictionary<string, double> FlopsByCategory => Forward.FlopsByCategory;
}

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
    private Tensor? _sample;

    private PlannedUNetStep(IOps ops, UNetStepPlan plan, PlannedForward forward, Tensor slot)
    {
        _ops = ops;
        Planned = plan;
        _forward = forward;
        _slot = slot;
    }

    /// <summary>What planning the step found: the packed arena, the counted FLOPs, the weights' size.</summary>
    public UNetStepPlan Planned { get; }

    /// <summary>The packed plan (its peak is reported before the loop starts).</summary>
    public ArenaPlan Plan => Planned.Arena;

    /// <summary>Whether the step replays a graph from its second call.</summary>
    public bool UsesGraph => _forward.UsesGraph;

    /// <summary>Takes the arena of a step planned by <see cref="PlanStep"/> (for <paramref name="ops"/>' dtype).</summary>
    /// <exception cref="ArenaOutOfMemoryException">The plan does not fit the backend's available memory.</exception>
    public static PlannedUNetStep Create(IOps ops, UNetStepPlan plan, bool graphs = false, long reserve = RequestMemory.Reserve)
    {
        ArgumentNullException.ThrowIfNull(ops);
        ArgumentNullException.ThrowIfNull(plan);
        var forward = PlannedForward.Create(ops, plan.Forward, reserve, "UNet step arena", graphs);
        return new PlannedUNetStep(ops, plan, forward, ops.Empty(ops.ActivationDType, plan.StepEmbedding));
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
        TensorShape? embedding = null;
        var forward = PlannedForward.Record(dtype, planning =>
        {
            using var weights = ShapeOnly("unet", shapes);
            var unet = I2VGenXLUNet.Load(planning, weights, config);
            var conditioning = unet.Condition(
                Input(planning, latents), Input(planning, imageEmbeddings), Input(planning, text), Enumerable.Repeat(16f, text[0]).ToArray(), frames);
            embedding = new TensorShape(latents[0], conditioning.FpsEmbedding.Shape[1]);
            var sample = Input(planning, latents);
            var stepEmbedding = Input(planning, embedding);
            return () => unet.Forward(sample, stepEmbedding, conditioning);
        });
        return new UNetStepPlan(forward, WeightBytes(dtype, shapes), embedding!);
    }

    /// <summary>
    /// One UNet call on the arena; the output stays valid until the next call. Every call must pass the same
    /// <paramref name="sample"/> buffer (a replay reads it by address).
    /// </summary>
    public Tensor Forward(I2VGenXLUNet unet, Tensor sample, Tensor stepEmbedding, UNetConditioning conditioning)
    {
        ArgumentNullException.ThrowIfNull(unet);
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(stepEmbedding);
        _sample ??= sample;
        if (!ReferenceEquals(sample.Storage, _sample.Storage) || sample.ByteOffset != _sample.ByteOffset || sample.Shape != _sample.Shape)
        {
            throw new InvalidOperationException("A planned UNet step reads its sample by address: pass the same input buffer at every step.");
        }

        _ops.CopyInto(stepEmbedding, _slot);
        return _forward.Run(() => unet.Forward(sample, _slot, conditioning));
    }

    /// <summary>One UNet call on the arena by direct launches, graphs or not (what a replay is compared with).</summary>
    public Tensor Direct(I2VGenXLUNet unet, Tensor sample, Tensor stepEmbedding, UNetConditioning conditioning)
    {
        ArgumentNullException.ThrowIfNull(unet);
        return _forward.RunDirect(() => unet.Forward(sample, stepEmbedding, conditioning));
    }

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
