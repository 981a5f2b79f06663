using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.MemoryPlanning;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Pipeline;

namespace CudaI2V.Tests.Memory;

/// <summary>
/// The choices that fit the release on small cards (issue 17), planned without a device: the spatial layers in chunks of
/// frames shrink the step's arena, tiles shrink the decode's and are chosen only above 1280x704 or when a whole frame
/// does not fit, and releasing the encoders takes their weights out of what the loop holds.
/// </summary>
public sealed class MemoryFitTests(ITestOutputHelper output)
{
    private const long GiB = 1L << 30;

    [Fact]
    public void Spatial_chunks_of_frames_lower_the_release_steps_planned_peak()
    {
        var models = RequestMemoryTests.ReleaseModels();
        var peaks = new List<long>();
        foreach (var spatial in new[] { int.MaxValue, 2, 1 })
        {
            var step = RequestMemory.PlanStep(models, 2, 16, 512, 512, 77, new MemoryChoices(true, 64L << 20, 1, spatial));
            output.WriteLine($"512x512, one video per run, spatial {spatial}: arena {ArenaPlan.FormatBytes(step.Arena.Peak)}, {step.Forward.Ops} ops");
            peaks.Add(step.Arena.Peak);
        }

        Assert.True(peaks[1] < peaks[0], $"{peaks[1]} should be below {peaks[0]}");
        Assert.True(peaks[2] <= peaks[1], $"{peaks[2]} should not be above {peaks[1]}");
    }

    [Fact]
    public void Tiles_are_chosen_above_1280x704_or_when_a_whole_frame_does_not_fit()
    {
        var models = RequestMemoryTests.ReleaseModels();
        Assert.Null(MemoryPlanner.TileChoices(models, 704, 1280)[0]);
        Assert.Equal(96, MemoryPlanner.TileChoices(models, 720, 1280)[0]);   // above 1280x704: tiles whatever the budget

        // The decode alone at the release size: whole frames when one fits, else tiles (the largest that fits).
        var request = new MemoryRequest(2, 16, 704, 1280, 77, 50);
        var whole = RequestMemory.PlanDecode(models, 1, 704, 1280, null);
        var tiled = RequestMemory.PlanDecode(models, 1, 704, 1280, 96);
        output.WriteLine($"decode of one 704x1280 frame: {ArenaPlan.FormatBytes(whole.Arena.Peak)} whole, {ArenaPlan.FormatBytes(tiled.Arena.Peak)} in 96-latent tiles");
        Assert.True(tiled.Arena.Peak < whole.Arena.Peak);
        var limit = MemoryPlanner.DecodeBytes(whole) - 1;
        var step = MemoryPlanner.StepBytes(RequestMemory.PlanStep(models, 2, 16, 704, 1280, 77, MemoryPlanner.Smallest(models, request)));
        Assert.True(step <= limit, "the step fits, so the decode decides");
        var plan = MemoryPlanner.Plan(models, request, ComponentWeights.None, null, limit, "a test device");
        output.WriteLine(plan.Describe());
        Assert.NotNull(plan.Choices.DecodeTile);
        Assert.Equal(1, plan.Choices.DecodeChunk);
        Assert.True(plan.Request.DecodeTiles > 1);
        Assert.Null(MemoryPlanner.Plan(models, request, ComponentWeights.None, null, limit + 1, "a test device").Choices.DecodeTile);
    }

    [Fact]
    public void Each_stage_counts_the_weights_it_holds_and_the_planned_peak_is_the_largest_stage()
    {
        var models = RequestMemoryTests.ReleaseModels();
        var request = new MemoryRequest(2, 16, 512, 512, 77, 50);
        var weights = new ComponentWeights(3 * GiB, GiB / 4, GiB + (GiB / 4));
        MemoryPlan Forced(WeightResidency residency) =>
            MemoryPlanner.Plan(models, request, weights, 12 * GiB, long.MaxValue, "a test device", MemoryChoices.Default(4) with { Residency = residency });
        var kept = Forced(WeightResidency.KeepAll);
        var released = Forced(WeightResidency.ReleaseEncoders);
        var staged = Forced(WeightResidency.OneStageAtATime);
        foreach (var plan in new[] { kept, released, staged })
        {
            output.WriteLine(plan.Describe());
            Assert.Equal(MemoryPlan.Stages.Max(plan.PeakOf), plan.Peak);
            Assert.Equal(kept.Launches, plan.Launches);
        }

        // Released encoders leave the loop and the decode, not the encode; one stage at a time holds only its own model.
        Assert.Equal(weights.Total, kept.WeightsIn(RequestStage.Encode));
        Assert.Equal(weights.Total, released.WeightsIn(RequestStage.Encode));
        Assert.Equal(weights.UNet + weights.Decoder, released.WeightsIn(RequestStage.Denoise));
        Assert.Equal((weights.Encoders, weights.UNet, weights.Decoder), (staged.WeightsIn(RequestStage.Encode), staged.WeightsIn(RequestStage.Denoise), staged.WeightsIn(RequestStage.Decode)));
        Assert.Equal((0L, weights.Encoders, weights.Total), (kept.ReloadedBytes, released.ReloadedBytes, staged.ReloadedBytes));
        Assert.Equal(kept.PeakOf(RequestStage.Denoise) - weights.Encoders, released.PeakOf(RequestStage.Denoise));

        // The encode stage is planned: the VAE encoder at 512x512 in fp32 needs more than the 224x224 CLIP encoder.
        Assert.True(kept.EncodeBytes > RequestMemory.Reserve, kept.Describe());
        Assert.True(kept.Request.Encode.Vae.Arena.Peak > kept.Request.Encode.Clip.Arena.Peak);

        // At the encode stage's peak with every model held, only the loop without the encoders fits (kept, the loop's
        // smallest choices do not): the encoders are released. Below it only one model at a time fits.
        foreach (var (budget, residency) in new[] { (released.PeakOf(RequestStage.Encode), WeightResidency.ReleaseEncoders), (staged.Peak, WeightResidency.OneStageAtATime) })
        {
            var chosen = MemoryPlanner.Plan(models, request, weights, budget, long.MaxValue, "a test device");
            output.WriteLine(chosen.Describe());
            Assert.True(chosen.Peak <= budget);
            Assert.Equal(residency, chosen.Choices.Residency);
        }

        // Models that cannot be released are always all held.
        var fixedWeights = weights with { Releasable = false };
        Assert.Equal(WeightResidency.KeepAll, MemoryPlanner.Plan(models, request, fixedWeights, 12 * GiB, long.MaxValue, "a test device").Choices.Residency);
    }

    [Fact]
    public void Release_tiles_follow_diffusers_and_blend_to_the_whole_frame()
    {
        // 704x1280 with the release VAE (sample_size 768, scale 8): tiles of 96 latents every 72, blended over 192 pixels.
        var tiles = new VaeTiles(88, 160, 96, 8);
        Assert.Equal((72, 192, 576), (tiles.Stride, tiles.BlendExtent, tiles.RowLimit));
        Assert.Equal([(0, 0, 88, 96), (0, 72, 88, 88), (0, 144, 88, 16), (72, 0, 16, 96), (72, 72, 16, 88), (72, 144, 16, 16)], tiles.Tiles.Select(t => (t.Y, t.X, t.Height, t.Width)));
        Assert.Equal((88, 96), tiles.Sizes[0]);

        // Tiles that all hold one value blend to that value everywhere, and the kept pieces cover the frame exactly.
        var decoded = tiles.Tiles.Select(t => Tensor.FromArray(Enumerable.Repeat(0.25f, t.Height * 8 * t.Width * 8 * 3).ToArray(), 1, t.Height * 8, t.Width * 8, 3)).ToList();
        var frame = tiles.Blend(decoded);
        Assert.Equal(new TensorShape(1, 704, 1280, 3), frame.Shape);
        Assert.All(frame.ToFloat32Array(), v => Assert.Equal(0.25f, v, 6));
    }
}
