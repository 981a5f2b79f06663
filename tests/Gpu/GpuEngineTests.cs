using CudaI2V.Kernels;
using CudaI2V.Kernels.Cpu;
using CudaI2V.Kernels.Cuda.Backend;
using CudaI2V.Layers.Vae;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Pipeline.MemoryPlanning;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Gpu;

/// <summary>
/// The denoising loop on the GPU: the scheduler's ops through <see cref="CudaOps"/> equal <see cref="CpuOps"/>'s, and a
/// UNet step replayed as a CUDA graph gives the video that direct launches give (skipped without a GPU).
/// </summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuEngineTests
{
    private readonly string _cache = Fixtures.TempFolder("gpu-engine");

    [Theory]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void The_scheduler_ops_equal_the_cpu_ones(DType dtype)
    {
        var gpu = GpuProbe.Require();
        using var ops = new CudaOps(gpu.Context, new CudaOpsOptions(dtype));
        var cpu = new CpuOps();
        var shape = new TensorShape(3, 5, 7, 4);
        var latents = Tensor.FromSpan<float>(new TestData(11).Floats((int)shape.ElementCount, scale: 2f), shape);
        // The model output as the GPU holds it (rounded to its dtype), so both sides start from the same values.
        var output = Tensor.FromSpan<float>(new TestData(12).Floats(2 * (int)shape.ElementCount), new TensorShape(6, 5, 7, 4)).To(dtype).To(DType.F32);
        var noise = Tensor.FromSpan<float>(new TestData(13).Floats((int)shape.ElementCount), shape);
        var settings = new DdimStepSettings(DdimPrediction.VPrediction, new DdimCoefficients(0.9f, 0.43588989f, 0.95f, 0.31224990f, 0.125f), 9f);

        var deviceLatents = ops.FromHost(latents, DType.F32);
        var next = ops.Empty(dtype, output.Shape);
        ops.DdimStep(ops.FromHost(output), deviceLatents, settings, ops.FromHost(noise, DType.F32), next);
        var hostLatents = latents.To(DType.F32);
        var hostNext = Tensor.Zeros(DType.F32, output.Shape);
        cpu.DdimStep(output, hostLatents, settings, noise, hostNext);

        Assert.Equal(hostLatents.ToFloat32Array(), ops.ToHost(deviceLatents).ToFloat32Array());
        Assert.Equal(hostNext.To(dtype).To(DType.F32).ToFloat32Array(), ops.ToHost(next).ToFloat32Array());
        var poisoned = latents.ToFloat32Array();
        poisoned[3] = float.NaN;
        poisoned[40] = float.NegativeInfinity;
        Assert.Equal(2L, ops.CountNonFinite(ops.FromHost(Tensor.FromSpan<float>(poisoned, shape), DType.F32)));
        Assert.Equal(0L, ops.CountNonFinite(deviceLatents));
    }

    [Fact]
    public void A_graphed_unet_step_gives_the_video_of_direct_launches()
    {
        var gpu = GpuProbe.Require();
        using var engine = VideoEngineLoader.Load(
            ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(_cache), Ops: new CudaOps(gpu.Context)));
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        var options = new GenerationOptions { Prompt = "a cat", Frames = 4, Steps = 4, Height = 40, Width = 56, Seed = 7 };
        var token = TestContext.Current.CancellationToken;
        var notes = new List<string>();
        engine.Log = notes.Add;
        Assert.Equal(0L, engine.Ops.Memory.WeightBlockOverflow); // every weight landed in its model's one block

        engine.UseGraphs = false;
        var direct = engine.Generate(image, options, cancellation: token).Video.ToFloat32Array();
        engine.UseGraphs = true;
        var graphed = engine.Generate(image, options, cancellation: token).Video.ToFloat32Array();
        var again = engine.Generate(image, options, cancellation: token).Video.ToFloat32Array();

        Assert.Contains(notes, n => n.Contains("replayed as a graph", StringComparison.Ordinal));
        Assert.Contains(notes, n => n.StartsWith("memory plan: ", StringComparison.Ordinal));
        Assert.Equal(direct, graphed);
        Assert.Equal(direct, again);
    }

    [Theory]
    [InlineData(WeightResidency.KeepAll)]
    [InlineData(WeightResidency.OneStageAtATime)]
    public void A_request_allocates_no_more_than_its_plan(WeightResidency residency)
    {
        // The device's free memory before the engine loads and at every progress report of a request (every step, stage
        // and decoded chunk): what the request held at most, weights included, against its plan's peak less the
        // overhead (the context and workspace existed before the first reading).
        var gpu = GpuProbe.Require();
        var ops = new CudaOps(gpu.Context);
        var before = gpu.Context.MemoryInfo().Free;
        using var engine = VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(_cache), Ops: ops));
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        var options = new GenerationOptions
        {
            Prompt = "a cat",
            Frames = 4,
            Steps = 4,
            Height = 40,
            Width = 56,
            Seed = 7,
            MemoryBudget = 4L << 30,
            MemoryChoices = new MemoryChoices(true, 4096, 2, 2, Residency: residency),
        };
        var lowest = long.MaxValue;
        var progress = new SyncProgress<GenerationProgress>(_ => lowest = Math.Min(lowest, gpu.Context.MemoryInfo().Free));
        var result = engine.Generate(image, options, progress, cancellation: TestContext.Current.CancellationToken);
        var used = before - lowest;
        var plan = result.Memory!;
        TestContext.Current.TestOutputHelper?.WriteLine($"{residency}: held at most {used:N0} bytes against a planned {plan.Peak - plan.Overhead:N0} ({plan.Describe()})");
        Assert.True(used <= plan.Peak - plan.Overhead, $"held {used:N0} bytes, planned {plan.Peak - plan.Overhead:N0}: {plan.Describe()}");
    }

    [Fact]
    public void A_planned_decode_with_a_padded_last_chunk_matches_the_unplanned_decode()
    {
        var gpu = GpuProbe.Require();
        var folder = Fixtures.ComponentModel("vae-tiny");
        var config = VaeConfig.Load(Path.Combine(folder, "config.json"));
        using var weights = WeightSet.Open("vae", [Path.Combine(folder, "diffusion_pytorch_model.safetensors")], WeightAliases.LegacyVaeAttention);
        using var ops = new CudaOps(gpu.Context);
        var vae = AutoencoderKL.Load(ops, weights, config);
        var latents = FixtureWeights.Input("planned.vae", new TensorShape(5, 6, 8, 4));
        var reference = ops.ToHost(vae.Decode(ops.FromHost(latents))).ToFloat32Array();

        using var decoder = PlannedVaeDecode.Create(ops, config, weights.Layout(), chunk: 3, height: 6, width: 8);
        var first = decoder.Decode(vae, latents.Slice(0, 0, 3)).ToFloat32Array();
        var last = decoder.Decode(vae, latents.Slice(0, 3, 2)).ToFloat32Array(); // padded to 3 frames

        var result = TensorComparison.Compare([.. first, .. last], reference);
        Assert.True(result.MaxRel <= 1e-3, result.ToString());
    }
}
