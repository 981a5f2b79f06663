using CudaI2V.Kernels.Cuda;
using CudaI2V.Kernels.Planning;
using CudaI2V.Layers.UNet;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Gpu;

/// <summary>A UNet forward replayed on its planned arena gives what the same forward gives with ordinary allocations.</summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuPlannedForwardTests
{
    [Fact]
    public void A_planned_forward_allocates_nothing_and_matches_the_unplanned_one()
    {
        var gpu = GpuProbe.Require();
        var folder = Fixtures.ComponentModel("unet-tiny");
        var config = UNetConfig.Load(Path.Combine(folder, "config.json"));
        using var weights = WeightSet.Open("unet", [Path.Combine(folder, "diffusion_pytorch_model.safetensors")]);
        using var ops = new CudaOps(gpu.Context);
        var unet = I2VGenXLUNet.Load(ops, weights, config);
        var sample = ops.FromHost(FixtureWeights.Input("planned.sample", new TensorShape(8, 20, 28, 4)));
        var latents = ops.FromHost(FixtureWeights.Input("planned.latents", new TensorShape(8, 20, 28, 4)));
        var embeds = ops.FromHost(FixtureWeights.Input("planned.embeds", new TensorShape(2, 1, 32)));
        var text = ops.FromHost(FixtureWeights.Input("planned.text", new TensorShape(2, 77, 32)));
        var conditioning = unet.Condition(latents, embeds, text, [16f, 16f], 4);
        var reference = ops.ToHost(unet.Forward(sample, 781, conditioning)).ToFloat32Array();

        // Plan the same forward without computing: the conditioning and the sample come from outside the plan.
        var planning = new PlanningOps(ops.ActivationDType);
        var shapeOnly = I2VGenXLUNet.Load(planning, ShapeOnly.FromManifest("unet", WeightManifest.Load(Fixtures.Path("unet-tiny", "weights-manifest.json"))), config);
        var plannedConditioning = shapeOnly.Condition(
            planning.FromHost(Tensor.Zeros(DType.F32, new TensorShape(8, 20, 28, 4))),
            planning.FromHost(Tensor.Zeros(DType.F32, new TensorShape(2, 1, 32))),
            planning.FromHost(Tensor.Zeros(DType.F32, new TensorShape(2, 77, 32))),
            [16f, 16f],
            4);
        planning.BeginRecording();
        var plannedOutput = shapeOnly.Forward(planning.FromHost(Tensor.Zeros(DType.F32, sample.Shape)), 781, plannedConditioning);
        var plan = planning.Plan(plannedOutput);

        using var arena = DeviceArena.Create(plan, new CudaDeviceAllocator(gpu.Context));
        var allocator = new PlannedAllocator(plan, arena.AddressOf, (address, bytes) => new DeviceStorage(address, bytes, () => true, "planned arena"));
        for (var run = 0; run < 2; run++)
        {
            allocator.Restart();
            Tensor output;
            using (ops.UsePlan(allocator))
            {
                output = unet.Forward(sample, 781, conditioning);
            }

            Assert.True(allocator.Complete);
            var result = TensorComparison.Compare(ops.ToHost(output).ToFloat32Array(), reference);
            Assert.True(result.MaxRel <= 1e-3, $"run {run}: {result}");
        }
    }
}
