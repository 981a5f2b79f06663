using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.MemoryPlanning;
using CudaI2V.Runtime.Memory;

namespace CudaI2V.Tests.Pipeline;

/// <summary>
/// What the planner counts for the conditioning a request holds through its loop, now that the cross-attention keys
/// and values are projected once per video instead of once per frame.
/// </summary>
public sealed class ConditioningMemoryTests(ITestOutputHelper output)
{
    private const double MiB = 1 << 20;

    /// <summary>
    /// The release UNet's spatial transformers (2 per down level 0-2, 1 in the middle, 3 per up level 1-3) have inner
    /// widths 2 x (320 + 640 + 1280) + 1280 + 3 x (1280 + 640 + 320) = 12,480; each keeps K and V of the 145 context
    /// tokens (77 text + 64 image-latent + 4 CLIP) in fp16: 145 x 2 x 12,480 x 2 = 7,238,400 bytes per context row.
    /// </summary>
    private const long KeysAndValuesPerRow = 145L * 2 * 12_480 * 2;

    [Theory]
    [InlineData(512, 512, 270.1)]
    [InlineData(704, 1280, 365.3)]
    public void The_cross_attention_keys_and_values_are_held_once_per_video(int height, int width, double beforeMiB)
    {
        // 16 frames with guidance: B = 2 videos, 32 frame rows. Per frame the conditioning held 32 rows of keys and
        // values and the context repeated to (32, 145, 1024); per video it holds 2 rows and no repeat. The drop is
        // 30 x 7,238,400 + 32 x 145 x 1024 x 2 = 217,152,000 + 9,502,720 = 226,654,720 bytes (216.2 MiB), at any size.
        const long Drop = (30 * KeysAndValuesPerRow) + (32L * 145 * 1024 * 2);
        Assert.Equal(226_654_720, Drop);
        var models = RequestMemoryTests.ReleaseModels();

        var step = RequestMemory.PlanStep(models, 2, 16, height, width, 77, MemoryChoices.Default(1));
        var split = RequestMemory.PlanStep(models, 2, 16, height, width, 77, MemoryChoices.Default(1) with { SplitGuidance = true });
        output.WriteLine($"{width}x{height}x16: conditioning {ArenaPlan.FormatBytes(step.ConditioningBytes)} ({step.ConditioningBytes} bytes), before {beforeMiB} MiB");

        // Before: `cudai2v plan` at commit 507594d printed "conditioning 270.1 MiB" (512x512) and "365.3 MiB"
        // (704x1280), to 0.1 MiB: everything computing the conditioning made, which is what the planner now counts as
        // its transient peak (its temporaries are freed once it is computed).
        Assert.InRange((step.ConditioningPeakBytes + Drop) / MiB, beforeMiB - 0.05, beforeMiB + 0.05);

        // What the loop holds: the keys and values of 2 context rows, the context (2, 145, 1024), the image stream
        // (32, h, w, 4) and the fps embedding (2, 1280), all in fp16.
        var kept = (2 * KeysAndValuesPerRow) + (2L * 145 * 1024 * 2) + (32L * (height / 8) * (width / 8) * 4 * 2) + (2L * 1280 * 2);
        Assert.Equal(kept, step.ConditioningBytes);

        // The guidance halves one after the other hold the same: two runs of one video each.
        Assert.Equal(step.ConditioningBytes, split.ConditioningBytes);
        Assert.Equal(step.ConditioningPeakBytes, split.ConditioningPeakBytes);
    }
}
