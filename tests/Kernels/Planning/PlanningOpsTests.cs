using CudaI2V.Kernels.Planning;
using CudaI2V.Layers.UNet;
using CudaI2V.Layers.Vae;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Layers;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Kernels.Planning;

/// <summary>Planning a UNet forward's activation memory without computing anything.</summary>
public sealed class PlanningOpsTests(ITestOutputHelper output)
{
    private static (ArenaPlan Plan, PlanningOps Ops, Tensor Output) PlanUNet(UNetConfig config, WeightSet weights, int batch, int frames, int height, int width)
    {
        var ops = new PlanningOps();
        var unet = I2VGenXLUNet.Load(ops, weights, config);
        var weightBytes = ops.HostBytes;
        var c = config.InChannels;
        var latents = ops.FromHost(Tensor.View(new FakeStorage(), 0, DType.F32, new TensorShape(batch * frames, height, width, c)));
        var imageEmbeddings = ops.FromHost(Tensor.View(new FakeStorage(), 0, DType.F32, new TensorShape(batch, 1, config.CrossAttentionDim)));
        var text = ops.FromHost(Tensor.View(new FakeStorage(), 0, DType.F32, new TensorShape(batch, 77, config.CrossAttentionDim)));
        var conditioning = unet.Condition(latents, imageEmbeddings, text, Enumerable.Repeat(16f, batch).ToArray(), frames);
        var result = unet.Forward(latents, 981, conditioning);
        Assert.True(weightBytes > 0);
        return (ops.Plan(result, conditioning.Context, conditioning.ImageStream), ops, result);
    }

    private sealed class FakeStorage : TensorStorage
    {
        public override long ByteLength => long.MaxValue;

        public override MemoryKind Kind => MemoryKind.Host;
    }

    [Fact]
    public void Tiny_unet_plan_reuses_memory_and_keeps_its_outputs()
    {
        var manifest = WeightManifest.Load(Fixtures.Path("unet-tiny", "weights-manifest.json"));
        using var weights = ShapeOnly.FromManifest("unet", manifest);
        var (plan, ops, result) = PlanUNet(UNetConfig.Load(Fixtures.Path("unet-tiny", "model", "config.json")), weights, 2, 4, 20, 28);
        Assert.Equal(new TensorShape(8, 20, 28, 4), result.Shape);
        Assert.True(ops.TensorCount > 300, $"{ops.TensorCount} tensors");
        var total = plan.Buffers.Sum(b => b.Bytes);
        Assert.InRange(plan.Peak, plan.LiveLowerBound, total / 4);
        var last = plan.Buffers[^1];
        Assert.Equal(ops.Steps, last.LastUse);
        output.WriteLine(plan.Describe());
    }

    [Theory]
    [InlineData(64, 64)]
    [InlineData(88, 160)]
    public void Release_unet_plans_its_activations_at_release_sizes(int latentHeight, int latentWidth)
    {
        var path = Path.Combine(Fixtures.TempFolder("plan-release"), "config.json");
        File.WriteAllText(path, UNetReleaseLayoutTests.ReleaseConfig);
        using var weights = ShapeOnly.FromManifest("unet", WeightManifest.Load(Fixtures.Path("release-layout", "unet.json")));
        var (plan, ops, _) = PlanUNet(UNetConfig.Load(path), weights, 2, 16, latentHeight, latentWidth);
        Assert.Equal(1_420_469_224L * 2, ops.HostBytes - (2L * 16 * latentHeight * latentWidth * 4 * 2) - (2L * 1024 * 2) - (2L * 77 * 1024 * 2));
        Assert.True(plan.Peak >= plan.LiveLowerBound);
        output.WriteLine($"{latentHeight * 8}x{latentWidth * 8}, 16 frames, CFG batch 2: {plan.Describe()}; without reuse {ArenaPlan.FormatBytes(plan.Buffers.Sum(b => b.Bytes))}");
        output.WriteLine(string.Join(", ", ops.FlopsByCategory.Select(p => $"{p.Key} {p.Value / 1e12:F2} TFLOP")) + $"; total {ops.Flops / 1e12:F2} TFLOP");
        if (latentHeight == 64)
        {
            // docs/anchors.md counts 41.87 TFLOP per UNet call at 512x512 (conv 18.8, linear 18.9, attention 4.2).
            Assert.InRange(ops.Flops / 1e12, 41.87 * 0.97, 41.87 * 1.03);
        }
    }

    [Theory]
    [InlineData(64, 64, 41.87)]
    [InlineData(88, 160, 176.19)]
    public void A_release_step_counts_less_than_a_whole_call_because_the_conditioning_is_outside_the_loop(int latentHeight, int latentWidth, double wholeCallTflop)
    {
        // The engine's step (PlannedUNetStep) takes the conditioning (the context's cross-attention keys and values
        // among it) computed once per request, so a step counts less than the whole call above. docs/performance.md
        // quotes these figures.
        var path = Path.Combine(Fixtures.TempFolder("plan-release-step"), "config.json");
        File.WriteAllText(path, UNetReleaseLayoutTests.ReleaseConfig);
        var shapes = WeightManifest.Load(Fixtures.Path("release-layout", "unet.json")).Entries;
        var step = CudaI2V.Pipeline.Engine.PlannedUNetStep.PlanStep(
            DType.F16, UNetConfig.Load(path), shapes, new TensorShape(32, latentHeight, latentWidth, 4), new TensorShape(2, 1, 1024), new TensorShape(2, 77, 1024), 16);
        output.WriteLine(string.Join(", ", step.FlopsByCategory.Select(p => $"{p.Key} {p.Value / 1e12:F2} TFLOP")) + $"; step total {step.Flops / 1e12:F2} TFLOP; arena {step.Arena.Describe()}");
        Assert.InRange(step.Flops / 1e12, wholeCallTflop * 0.98, wholeCallTflop - 0.01);
    }

    [Theory]
    [InlineData(64, 64)]
    [InlineData(88, 160)]
    public void A_release_cached_step_counts_a_fraction_of_a_full_one_at_every_depth(int latentHeight, int latentWidth)
    {
        // Step caching (docs/step-caching.md): what a cached step counts at each depth against the full step, at release
        // sizes; docs/performance.md quotes these figures.
        var path = Path.Combine(Fixtures.TempFolder("plan-release-cached"), "config.json");
        File.WriteAllText(path, UNetReleaseLayoutTests.ReleaseConfig);
        var config = UNetConfig.Load(path);
        var shapes = WeightManifest.Load(Fixtures.Path("release-layout", "unet.json")).Entries;
        var latents = new TensorShape(32, latentHeight, latentWidth, 4);
        var plans = Enumerable.Range(0, 4).Select(depth => CudaI2V.Pipeline.Engine.PlannedUNetStep.PlanCachedSteps(
            DType.F16, config, shapes, latents, new TensorShape(2, 1, 1024), new TensorShape(2, 77, 1024), 16, 1, long.MaxValue, depth)).ToArray();
        var previous = double.MaxValue;
        foreach (var (plan, depth) in plans.Select((p, d) => (p, d)))
        {
            var cached = plan.Cached!;
            output.WriteLine($"depth {depth}: full {plan.Flops / 1e12:F2} TFLOP, cached {cached.Flops / 1e12:F2} TFLOP ({cached.Flops / plan.Flops:P1}); cached arena {ArenaPlan.FormatBytes(cached.Arena.Peak)} beside the full {ArenaPlan.FormatBytes(plan.Arena.Peak)}, cache {ArenaPlan.FormatBytes(plan.DeepFeatureBytes)}");
            Assert.True(cached.Flops < plan.Flops && cached.Flops < previous);                         // a larger depth caches more of the UNet
            previous = cached.Flops;
        }
    }

    [Theory]
    [InlineData(512, 512, DType.F16)]
    [InlineData(704, 1280, DType.F16)]
    [InlineData(512, 512, DType.F32)]
    [InlineData(704, 1280, DType.F32)]
    public void Release_vae_decode_plans_one_frame_at_release_sizes(int height, int width, DType dtype)
    {
        var path = Path.Combine(Fixtures.TempFolder("plan-vae"), "config.json");
        File.WriteAllText(path, VaeTests.ReleaseConfig);
        using var weights = ShapeOnly.FromManifest("vae", WeightManifest.Load(Fixtures.Path("release-layout", "vae.json")), WeightAliases.LegacyVaeAttention);
        var ops = new PlanningOps(dtype);
        var vae = AutoencoderKL.Load(ops, weights, VaeConfig.Load(path));
        ops.BeginRecording();
        var images = vae.Decode(ops.FromHost(Tensor.View(new FakeStorage(), 0, DType.F32, new TensorShape(1, height / 8, width / 8, 4))));
        var plan = ops.Plan(images);

        Assert.Equal(new TensorShape(1, height, width, 3), images.Shape);
        Assert.True(plan.Peak >= plan.LiveLowerBound);
        // One image's largest tensors are (H, W, 128): the arena holds a few of them, not the whole decoder.
        var largest = (long)height * width * 128 * dtype.SizeOf();
        Assert.InRange(plan.Peak, 2 * largest, 8 * largest);
        output.WriteLine($"VAE decode of one {height}x{width} frame in {dtype}: {plan.Describe()}; without reuse {ArenaPlan.FormatBytes(plan.Buffers.Sum(b => b.Bytes))}");
    }
}
