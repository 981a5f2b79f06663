using CudaI2V.Kernels.Cuda;
using CudaI2V.Kernels.Planning;
using CudaI2V.Layers.UNet;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Engine;

/// <summary>
/// The UNet step of one request on the GPU, run on a planned arena: the step is first run through
/// <see cref="PlanningOps"/> on a shape-only copy of the UNet (same config, same weight shapes), its tensors are
/// packed by liveness into one <see cref="DeviceArena"/> checked against free memory before any work, and every
/// step replays that plan, so the denoising loop allocates nothing. (Without liveness, a release-sized step would
/// need the sum of all its tensors: 56 GiB at 512x512, 192 GiB at 704x1280.)
/// </summary>
internal sealed class PlannedUNetStep : IDisposable
{
    private readonly CudaOps _ops;
    private readonly DeviceArena _arena;
    private readonly PlannedAllocator _allocator;

    private PlannedUNetStep(CudaOps ops, DeviceArena arena, PlannedAllocator allocator)
    {
        _ops = ops;
        _arena = arena;
        _allocator = allocator;
    }

    /// <summary>The packed plan (its peak is reported before the loop starts).</summary>
    public ArenaPlan Plan => _arena.Plan;

    /// <summary>
    /// Plans the step for these shapes. <paramref name="shapes"/> is the UNet's weight layout (key, dtype, shape),
    /// <paramref name="config"/> its config; the input shapes are the request's.
    /// </summary>
    public static PlannedUNetStep Create(
        CudaOps ops, UNetConfig config, IReadOnlyList<WeightManifestEntry> shapes,
        TensorShape latents, TensorShape imageEmbeddings, TensorShape text, int frames)
    {
        var planning = new PlanningOps(ops.ActivationDType);
        using var weights = WeightSet.Generated("unet", shapes, e => PlanningOps.ShapeOnly(e.DType, e.Shape));
        var unet = I2VGenXLUNet.Load(planning, weights, config);
        var batch = text[0];
        var conditioning = unet.Condition(
            planning.FromHost(PlanningOps.ShapeOnly(DType.F32, latents)),
            planning.FromHost(PlanningOps.ShapeOnly(DType.F32, imageEmbeddings)),
            planning.FromHost(PlanningOps.ShapeOnly(DType.F32, text)),
            Enumerable.Repeat(16f, batch).ToArray(),
            frames);
        planning.BeginRecording();
        var output = unet.Forward(planning.FromHost(PlanningOps.ShapeOnly(DType.F32, latents)), 1, conditioning);
        var plan = planning.Plan(output);
        var arena = DeviceArena.Create(plan, new CudaDeviceAllocator(ops.Context), reserve: 256L << 20);
        var allocator = new PlannedAllocator(plan, arena.AddressOf, (address, bytes) => new DeviceStorage(address, bytes, () => true, "UNet step arena"));
        return new PlannedUNetStep(ops, arena, allocator);
    }

    /// <summary>One UNet call on the arena; the output stays valid until the next call.</summary>
    public Tensor Forward(I2VGenXLUNet unet, Tensor sample, float timestep, UNetConditioning conditioning)
    {
        _allocator.Restart();
        using (_ops.UsePlan(_allocator))
        {
            return unet.Forward(sample, timestep, conditioning);
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _ops.Stream.Synchronize();
        _arena.Dispose();
    }
}
