using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.MemoryPlanning;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Layers;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Pipeline;

/// <summary>
/// What a request plans on the device before any work, and what one that does not fit is told would fit: planning
/// needs no device, so the refusal is tested here with the free memory given.
/// </summary>
public sealed class RequestMemoryTests(ITestOutputHelper output)
{
    private const long MiB = 1L << 20;

    /// <summary>A request's need: 100 MiB per frame per megapixel, plus 50 MiB.</summary>
    private static long Need(int frames, int height, int width) => (50 * MiB) + (long)(100.0 * MiB * frames * height * width / 1e6);

    /// <summary>The release UNet in fp16 and the release VAE in fp32 (its force_upcast), by their configs and layouts.</summary>
    internal static RequestModels ReleaseModels()
    {
        var folder = Fixtures.TempFolder("request-memory");
        File.WriteAllText(Path.Combine(folder, "unet.json"), UNetReleaseLayoutTests.ReleaseConfig);
        File.WriteAllText(Path.Combine(folder, "vae.json"), VaeTests.ReleaseConfig);
        return new RequestModels(
            DType.F16, UNetConfig.Load(Path.Combine(folder, "unet.json")), WeightManifest.Load(Fixtures.Path("release-layout", "unet.json")).Entries,
            DType.F32, VaeConfig.Load(Path.Combine(folder, "vae.json")), WeightManifest.Load(Fixtures.Path("release-layout", "vae.json")).Entries,
            ClipVisionConfig.Load(Fixtures.Path("release-layout", "image_encoder-config.json")), WeightManifest.Load(Fixtures.Path("release-layout", "image_encoder.json")).Entries);
    }

    [Fact]
    public void It_gives_the_largest_frame_count_and_the_largest_size_that_fit()
    {
        // 16 frames at 1280x704 need about 1.49 GiB; 1 GiB free holds 10 frames there, or 960x528 (scale 0.75) at
        // 16 frames, since 1120x616 (0.875) would need 1.13 GiB.
        var advice = RequestMemory.WhatFits(Need, 1024 * MiB, 16, 704, 1280);

        Assert.Equal("What would fit in the 1.00 GiB free: up to 10 frames at 1280x704, or 960x528 at 16 frames.", advice);
        Assert.True(Need(10, 704, 1280) <= 1024 * MiB && Need(11, 704, 1280) > 1024 * MiB);
        Assert.True(Need(16, 528, 960) <= 1024 * MiB && Need(16, 616, 1120) > 1024 * MiB);
    }

    [Fact]
    public void It_says_so_when_nothing_smaller_fits()
    {
        var advice = RequestMemory.WhatFits(Need, 40 * MiB, 16, 512, 512);

        Assert.StartsWith("Nothing smaller fits in the 40.0 MiB free", advice, StringComparison.Ordinal);
    }

    [Fact]
    public void One_frame_requests_get_only_the_size()
    {
        var advice = RequestMemory.WhatFits(Need, 60 * MiB, 1, 704, 1280);

        Assert.Equal("What would fit in the 60.0 MiB free: 320x176 at 1 frame.", advice);
    }

    [Fact]
    public void A_release_request_too_big_for_the_free_memory_is_refused_with_what_would_fit()
    {
        var models = ReleaseModels();

        // 704x1280, 16 frames, guidance: the UNet step in fp16 and the decode of one frame in fp32 (force_upcast).
        var request = new MemoryRequest(2, 16, 704, 1280, 77, 50);
        var none = ComponentWeights.None;
        var plan = MemoryPlanner.Plan(models, request, none, null, long.MaxValue, "a test device", MemoryChoices.Default(1));
        output.WriteLine($"704x1280x16: {plan.Request.Describe()}");
        Assert.InRange(plan.Request.ActivationBytes, 2L << 30, 12L << 30);
        var exactly = MemoryPlanner.Plan(models, request, none, null, plan.ActivationBytes, "a test device", MemoryChoices.Default(1)); // exactly enough fits
        Assert.Equal(plan.ActivationBytes, exactly.ActivationBytes);

        // Below what the smallest choices need: refused, saying what would fit.
        var smallest = MemoryPlanner.Plan(models, request, none, null, long.MaxValue, "a test device", MemoryPlanner.Smallest(models, request));
        var free = smallest.ActivationBytes - 1;
        var e = Assert.Throws<ArenaOutOfMemoryException>(() => MemoryPlanner.Plan(models, request, none, null, free, "a test device"));
        output.WriteLine(e.Message);
        Assert.StartsWith("A 1280x704 video of 16 frames needs at least ", e.Message, StringComparison.Ordinal);
        Assert.Contains($"but {ArenaPlan.FormatBytes(free)} is free in a test device. ", e.Message, StringComparison.Ordinal);
        Assert.Contains(" at 16 frames", e.Message, StringComparison.Ordinal);
    }
}
