using CudaI2V.Loader;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Pipeline.MemoryPlanning;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Pipeline;

/// <summary>
/// A memory budget on the tiny pipeline: every memory choice gives the same video bit for bit on the CPU, the planner
/// picks the cheapest choices that fit, the result reports them, and a budget nothing fits is refused up front.
/// </summary>
public sealed class MemoryBudgetTests
{
    private const int Frames = 3;
    private const int Height = 40;
    private const int Width = 56;

    private readonly string _cache = Path.Combine(Fixtures.TempFolder("memory-budget"), "cache");

    private static GenerationOptions Options => new() { Prompt = "a cat", Frames = Frames, Steps = 3, Height = Height, Width = Width, Seed = 5 };

    [Fact]
    public void Every_memory_choice_gives_the_same_video_bit_for_bit()
    {
        using var engine = VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(_cache)));
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        var token = TestContext.Current.CancellationToken;
        var unconstrained = new MemoryChoices(false, long.MaxValue, Frames);
        var reference = engine.Generate(image, Options with { MemoryChoices = unconstrained }, cancellation: token);
        Assert.Equal(unconstrained, reference.Memory!.Choices);
        Assert.Equal(1.0, reference.Memory.Cost);

        foreach (var choices in new[]
        {
            new MemoryChoices(true, long.MaxValue, Frames), new MemoryChoices(false, 2048, 2), new MemoryChoices(true, 1024, 1, Residency: WeightResidency.OneStageAtATime),
        })
        {
            var result = engine.Generate(image, Options with { MemoryChoices = choices }, cancellation: token);
            Assert.Equal(choices, result.Memory!.Choices);
            Assert.True(result.Memory.Cost > 1.0, $"{choices}: {result.Memory.Describe()}");
            Assert.Equal(reference.Video.ToFloat32Array(), result.Video.ToFloat32Array());
        }
    }

    [Fact]
    public void Released_models_give_the_same_video_and_are_loaded_again_by_the_next_request()
    {
        using var engine = VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(_cache)));
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        var token = TestContext.Current.CancellationToken;
        var kept = new MemoryChoices(false, long.MaxValue, Frames);
        var reference = engine.Generate(image, Options with { MemoryChoices = kept }, cancellation: token);
        Assert.True(engine.Encoders.IsLoaded && engine.UNet.IsLoaded && engine.Decoder.IsLoaded);
        Assert.True(engine.Weights.Encoders > 0 && engine.Weights.Total == engine.WeightBytes);

        // Encoders released after the image is encoded: the loop and the decode hold the rest.
        var released = engine.Generate(image, Options with { MemoryChoices = kept with { Residency = WeightResidency.ReleaseEncoders } }, cancellation: token);
        Assert.False(engine.Encoders.IsLoaded);
        Assert.True(engine.UNet.IsLoaded && engine.Decoder.IsLoaded);
        Assert.Equal(reference.Video.ToFloat32Array(), released.Video.ToFloat32Array());
        Assert.Equal(engine.Weights.Encoders, reference.Memory!.WeightsIn(RequestStage.Denoise) - released.Memory!.WeightsIn(RequestStage.Denoise));
        Assert.Equal(engine.Weights.Total, released.Memory.WeightsIn(RequestStage.Encode));
        Assert.Equal(engine.Weights.Encoders, released.Memory.ReloadedBytes);
        Assert.Contains("encoders released after use", released.Memory.Describe(), StringComparison.Ordinal);

        // Each model only for its stage: the encoders are loaded again for the encode, the UNet freed before the decode.
        var staged = engine.Generate(image, Options with { MemoryChoices = kept with { Residency = WeightResidency.OneStageAtATime } }, cancellation: token);
        Assert.Equal(2, engine.Encoders.Loads);
        Assert.False(engine.Encoders.IsLoaded || engine.UNet.IsLoaded);
        Assert.True(engine.Decoder.IsLoaded);
        Assert.Equal(reference.Video.ToFloat32Array(), staged.Video.ToFloat32Array());
        Assert.Equal(engine.Weights.UNet, staged.Memory!.WeightsIn(RequestStage.Denoise));
        Assert.Equal(engine.Weights.Decoder, staged.Memory.WeightsIn(RequestStage.Decode));
        Assert.Equal(engine.Weights.Encoders, staged.Memory.WeightsIn(RequestStage.Encode));
        Assert.Equal(engine.Weights.Total, staged.Memory.ReloadedBytes);

        // The next request keeping everything loads what is missing again (into new blocks) and gives the same video.
        var again = engine.Generate(image, Options with { MemoryChoices = kept }, cancellation: token);
        Assert.True(engine.Encoders.IsLoaded && engine.UNet.IsLoaded && engine.Decoder.IsLoaded);
        Assert.Equal((3, 3, 2), (engine.Encoders.Loads, engine.UNet.Loads, engine.Decoder.Loads));
        Assert.Equal(reference.Video.ToFloat32Array(), again.Video.ToFloat32Array());
    }

    [Fact]
    public void An_engine_whose_weights_do_not_fit_its_budget_at_once_loads_each_model_for_its_stage()
    {
        // A budget below every weight plus the device overhead: nothing is uploaded at load (the layouts are checked on
        // the planning recorder). A request (with a budget of its own, since the tiny models' stages need more than the
        // engine's) loads each model as its stage needs it, with the same video.
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        var token = TestContext.Current.CancellationToken;
        using var reference = VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(_cache)));
        var expected = reference.Generate(image, Options, cancellation: token).Video.ToFloat32Array();
        var lines = new List<string>();
        using var engine = VideoEngineLoader.Load(
            ModelDirectory.Open(Fixtures.PipelineTiny),
            new EngineLoadOptions(new CacheRoot(_cache), Log: lines.Add, MemoryBudget: reference.Weights.Total + MemoryPlanner.DeviceOverhead - 1));
        Assert.False(engine.Encoders.IsLoaded || engine.UNet.IsLoaded || engine.Decoder.IsLoaded);
        Assert.Contains(lines, l => l.Contains("do not fit in", StringComparison.Ordinal));

        var result = engine.Generate(image, Options with { MemoryBudget = 8L << 30 }, cancellation: token);
        Assert.Equal((1, 1, 1), (engine.Encoders.Loads, engine.UNet.Loads, engine.Decoder.Loads));
        Assert.Equal(expected, result.Video.ToFloat32Array());

        // A wrong file still fails at load when nothing is uploaded: a UNet config asking for more layers than its
        // weights have is refused by the layout check.
        var broken = Fixtures.TempFolder("memory-budget-broken");
        Fixtures.CopyTree(Fixtures.PipelineTiny, broken);
        var config = Path.Combine(broken, "unet", "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"layers_per_block\": 2", "\"layers_per_block\": 3", StringComparison.Ordinal));
        var e = Assert.Throws<ModelFileException>(() => VideoEngineLoader.Load(ModelDirectory.Open(broken), new EngineLoadOptions(new CacheRoot(_cache), MemoryBudget: 1L << 20)));
        Assert.Contains("unet", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void A_tiled_decode_is_close_to_the_whole_frame_decode()
    {
        using var engine = VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(_cache)));
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        var token = TestContext.Current.CancellationToken;
        var whole = new MemoryChoices(false, long.MaxValue, Frames);
        var reference = engine.Generate(image, Options with { MemoryChoices = whole }, cancellation: token).Video.ToFloat32Array();
        var result = engine.Generate(image, Options with { MemoryChoices = whole with { DecodeChunk = 2, DecodeTile = 8 } }, cancellation: token);
        Assert.True(result.Memory!.Request.DecodeTiles > 1, result.Memory.Describe());
        var tiled = result.Video.ToFloat32Array();
        Assert.Equal(reference.Length, tiled.Length);
        double max = 0, sum = 0;
        for (var i = 0; i < tiled.Length; i++)
        {
            var d = Math.Abs((double)tiled[i] - reference[i]);
            (max, sum) = (Math.Max(max, d), sum + d);
        }

        // Not equal (the decoder's group norms and attention see a tile), but close: pixel values in [0, 1].
        TestContext.Current.TestOutputHelper?.WriteLine($"tiled against whole frames: max |difference| {max:G4}, mean {sum / tiled.Length:G4}");
        Assert.True(max > 0, "a tiled decode differs from the whole-frame decode");
        Assert.True(max <= TiledMaxDifference && sum / tiled.Length <= TiledMeanDifference, $"max {max}, mean {sum / tiled.Length}");
    }

    /// <summary>
    /// The largest pixel difference (of [0, 1]) a tiled decode of the tiny pipeline may show against the whole-frame decode:
    /// its random VAE in 8-latent tiles of a 20x28 latent measured 0.456 (2026-12-02), a loose bound on a worst case of
    /// tiny tiles; the release decodes 96-latent tiles.
    /// </summary>
    private const double TiledMaxDifference = 0.6;

    /// <summary>The mean pixel difference a tiled decode of the tiny pipeline may show (measured 0.046).</summary>
    private const double TiledMeanDifference = 0.06;

    [Fact]
    public void A_budget_gets_the_cheapest_choices_that_fit_and_the_same_video()
    {
        using var engine = VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(_cache)));
        var models = Models();
        var request = new MemoryRequest(2, Frames, Height, Width, 77, 3);
        var none = ComponentWeights.None;
        var free = MemoryPlanner.Plan(models, request, none, null, long.MaxValue, "test");
        var smallest = MemoryPlanner.Plan(models, request, none, null, long.MaxValue, "test", MemoryPlanner.Smallest(models, request));
        Assert.Equal(new MemoryChoices(false, long.MaxValue, Frames), free.Choices);
        Assert.True(smallest.ActivationBytes < free.ActivationBytes, $"{smallest.Describe()} / {free.Describe()}");

        // Between the smallest and the unconstrained plan: some choice is made, and the plan fits its limit.
        var limit = (smallest.ActivationBytes + free.ActivationBytes) / 2;
        var planned = MemoryPlanner.Plan(models, request, none, null, limit, "test");
        Assert.NotEqual(free.Choices, planned.Choices);
        Assert.True(planned.ActivationBytes <= limit && planned.Cost >= 1.0, planned.Describe());
        Assert.Null(planned.Choices.DecodeTile);

        // The same through the engine's budget (weights and the device overhead counted, the encoders' kept: they fit
        // beside the same limit at no fewer launches), with the same video.
        var budget = engine.WeightBytes + MemoryPlanner.DeviceOverhead + limit;
        planned = MemoryPlanner.Plan(models, request, engine.Weights!, budget, long.MaxValue, "test");
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        var token = TestContext.Current.CancellationToken;
        var result = engine.Generate(image, Options with { MemoryBudget = budget }, cancellation: token);
        Assert.Equal(planned.Choices, result.Memory!.Choices);
        Assert.Equal(budget, result.Memory.Budget);
        Assert.True(result.Memory.Peak <= budget, result.Memory.Describe());
        Assert.Contains("of a ", result.Memory.Describe(), StringComparison.Ordinal);
        var reference = engine.Generate(image, Options, cancellation: token);
        Assert.Equal(reference.Video.ToFloat32Array(), result.Video.ToFloat32Array());

        // Below the smallest choices: refused before any work, saying what would fit.
        var need = MemoryPlanner.Plan(models, request, engine.Weights, null, long.MaxValue, "test", MemoryPlanner.Smallest(models, request)).Peak;
        var tooSmall = MemoryPlanner.DeviceOverhead + need - 1;
        var e = Assert.Throws<ArenaOutOfMemoryException>(() => engine.Generate(image, Options with { MemoryBudget = tooSmall }, cancellation: token));
        Assert.Contains("even with the smallest memory choices", e.Message, StringComparison.Ordinal);
        Assert.Contains("fit", e.Message[e.Message.IndexOf(". ", StringComparison.Ordinal)..], StringComparison.Ordinal);
    }

    [Fact]
    public void A_refine_plans_its_low_pass_under_the_requested_sizes_weights_and_gives_the_same_video()
    {
        using var engine = VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(_cache)));
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        var token = TestContext.Current.CancellationToken;
        var refine = Options with { Height = 32, Width = 48, RefineFrom = new RefineSize(24, 16) };

        // Forced choices hold for both passes; each model only for its stage reloads them around the low pass alike.
        var kept = new MemoryChoices(false, long.MaxValue, Frames);
        var reference = engine.Generate(image, refine with { MemoryChoices = kept }, cancellation: token);
        var staged = engine.Generate(image, refine with { MemoryChoices = kept with { Residency = WeightResidency.OneStageAtATime } }, cancellation: token);
        Assert.Equal(reference.Video.ToFloat32Array(), staged.Video.ToFloat32Array());
        var low = staged.Memory!.LowPass!;
        Assert.Equal(WeightResidency.OneStageAtATime, low.Choices.Residency);
        Assert.Equal(new TensorShape(2 * Frames, 8, 12, 4), low.Request.Step.Sample);           // the tiny VAE scales by 2
        Assert.Contains("refine's low pass: ", staged.Memory.Describe(), StringComparison.Ordinal);
        Assert.Null(engine.Generate(image, Options with { MemoryChoices = kept }, cancellation: token).Memory!.LowPass);

        // Under any budget that fits, the low pass shares the requested size's residency and fits beside its weights: the
        // request's peak is the larger of the two passes' (a budget that releases models is among them).
        var models = Models();
        var weights = engine.Weights!;
        var smallest = MemoryPlanner.PlanRequest(models, refine with { MemoryChoices = MemoryPlanner.Smallest(models, MemoryRequest.Of(refine, models, 0)) }, 0, 77, weights, null, long.MaxValue, "test");
        var residencies = new HashSet<WeightResidency>();
        var from = MemoryPlanner.DeviceOverhead + smallest.Peak;
        for (var budget = from; budget < from + weights.Total + (16L << 20); budget += 512L << 10)
        {
            var plan = MemoryPlanner.PlanRequest(models, refine, 0, 77, weights, budget, long.MaxValue, "test");
            Assert.Equal(plan.Choices.Residency, plan.LowPass!.Choices.Residency);
            Assert.True(plan.Peak <= budget && plan.LowPass.PeakOf(RequestStage.Denoise) <= plan.Peak, plan.Describe());
            residencies.Add(plan.Choices.Residency);
        }

        Assert.Contains(WeightResidency.OneStageAtATime, residencies);
        Assert.Contains(WeightResidency.KeepAll, residencies);
    }

    [Theory]
    [InlineData("24GiB", 24L << 30)]
    [InlineData("8 GiB", 8L << 30)]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("1.5GiB", 3L << 29)]
    [InlineData("6GB", 6_000_000_000L)]
    [InlineData("4096", 4096L)]
    public void Sizes_are_read_as_people_write_them(string text, long bytes)
    {
        Assert.True(ByteSize.TryParse(text, out var parsed));
        Assert.Equal(bytes, parsed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("lots")]
    [InlineData("-1GiB")]
    [InlineData("0")]
    [InlineData("12XB")]
    public void Other_sizes_are_refused(string text) => Assert.False(ByteSize.TryParse(text, out _));

    /// <summary>The tiny pipeline's models as the CPU engine plans them (fp32 throughout).</summary>
    private static RequestModels Models()
    {
        var model = ModelDirectory.Open(Fixtures.PipelineTiny);
        using var unet = model.Get(ComponentKind.Unet).OpenWeights(null, WeightVariant.Fp32);
        using var vae = model.Get(ComponentKind.Vae).OpenWeights(null, WeightVariant.Fp32);
        using var clip = model.Get(ComponentKind.ImageEncoder).OpenWeights(null, WeightVariant.Fp32);
        return new RequestModels(DType.F32, model.UNet, unet.Layout(), DType.F32, model.Vae, vae.Layout(), model.ImageEncoder, clip.Layout());
    }
}
