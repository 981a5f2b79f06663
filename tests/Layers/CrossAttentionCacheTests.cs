using CudaI2V.Kernels.Planning;
using CudaI2V.Layers.UNet;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Layers;

/// <summary>The context's cross-attention keys and values, projected once per request, change nothing but the work.</summary>
public sealed class CrossAttentionCacheTests
{
    [Fact]
    public void Cached_keys_and_values_give_the_same_output_and_leave_the_projections_out_of_each_step()
    {
        var config = UNetConfig.Load(Fixtures.Path("unet-tiny", "model", "config.json"));
        var ops = new CudaI2V.Kernels.Cpu.CpuOps();
        using var weights = WeightSet.Open("unet", [Path.Combine(Fixtures.ComponentModel("unet-tiny"), "diffusion_pytorch_model.safetensors")]);
        var unet = I2VGenXLUNet.Load(ops, weights, config);
        var sample = FixtureWeights.Input("cache.sample", new TensorShape(4, 6, 8, 4));
        var conditioning = unet.Condition(
            FixtureWeights.Input("cache.latents", new TensorShape(4, 6, 8, 4)),
            FixtureWeights.Input("cache.embeds", new TensorShape(2, 1, 32)),
            FixtureWeights.Input("cache.text", new TensorShape(2, 77, 32)),
            [16f, 16f],
            2);
        Assert.Equal(unet.SpatialTransformers.Count(), conditioning.CrossKeyValues!.Count);
        var cached = unet.Forward(sample, 500, conditioning).ToFloat32Array();
        var uncached = unet.Forward(sample, 500, conditioning with { CrossKeyValues = null }).ToFloat32Array();
        Assert.True(TensorComparison.Compare(cached, uncached).MaxAbs <= 1e-6);

        var planning = new PlanningOps();
        var shapes = I2VGenXLUNet.Load(planning, ShapeOnly.FromManifest("unet", WeightManifest.Load(Fixtures.Path("unet-tiny", "weights-manifest.json"))), config);
        var plannedConditioning = shapes.Condition(
            planning.FromHost(Tensor.Zeros(DType.F32, new TensorShape(4, 6, 8, 4))),
            planning.FromHost(Tensor.Zeros(DType.F32, new TensorShape(2, 1, 32))),
            planning.FromHost(Tensor.Zeros(DType.F32, new TensorShape(2, 77, 32))),
            [16f, 16f],
            2);
        planning.BeginRecording();
        shapes.Forward(planning.FromHost(Tensor.Zeros(DType.F32, sample.Shape)), 500, plannedConditioning);
        var withCache = planning.TensorCount;
        planning.BeginRecording();
        shapes.Forward(planning.FromHost(Tensor.Zeros(DType.F32, sample.Shape)), 500, plannedConditioning with { CrossKeyValues = null });
        Assert.Equal(planning.TensorCount - withCache, 2 * unet.SpatialTransformers.Count());
    }
}
