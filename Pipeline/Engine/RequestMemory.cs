using System.Globalization;
using CudaI2V.Kernels.Memory;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Pipeline.MemoryPlanning;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Engine;

/// <summary>The models whose work a request plans: each one's activation dtype on its backend, config and weight layout.</summary>
/// <param name="UNetDType">The UNet backend's activation dtype.</param>
/// <param name="UNet">The UNet's config.</param>
/// <param name="UNetShapes">The UNet's weight layout (key, dtype, shape).</param>
/// <param name="VaeDType">The VAE backend's activation dtype.</param>
/// <param name="Vae">The VAE's config.</param>
/// <param name="VaeShapes">The VAE's weight layout.</param>
public sealed record RequestModels(
    DType UNetDType, UNetConfig UNet, IReadOnlyList<WeightManifestEntry> UNetShapes, DType VaeDType, VaeConfig Vae, IReadOnlyList<WeightManifestEntry> VaeShapes);

/// <summary>
/// The memory one request plans: its UNet step's arena and its VAE decode's, each with a reserve beside it, and what the
/// sampler keeps between steps (the multistep history: F32 slots of the latents' size, allocated in the request's scope).
/// </summary>
/// <param name="Step">The UNet step.</param>
/// <param name="Decode">The decode of <paramref name="DecodeChunk"/> frames.</param>
/// <param name="DecodeChunk">Frames decoded at a time.</param>
/// <param name="SamplerBytes">The sampler's state between steps (0 for DDIM).</param>
/// <param name="DecodeTile">The side in latent pixels of the decode's tiles (null: whole frames; <see cref="MemoryChoices.DecodeTile"/>).</param>
/// <param name="ReleaseEncoders">The encoders' weights are freed once the image is encoded (<see cref="MemoryChoices.ReleaseEncoders"/>).</param>
/// <param name="DecodeTiles">Tiles per frame (1 untiled); <paramref name="Decode"/> is the largest tile's decode.</param>
public sealed record RequestPlan(UNetStepPlan Step, ForwardPlan Decode, int DecodeChunk, long SamplerBytes = 0, int? DecodeTile = null, bool ReleaseEncoders = false, int DecodeTiles = 1)
{
    /// <summary>The choices this plan was made under.</summary>
    public MemoryChoices Choices => new(Step.Runs > 1, Step.FeedForwardHiddenBytes, DecodeChunk, Step.SpatialImages, DecodeTile, ReleaseEncoders);

    /// <summary>Everything the request takes from the backend's available memory, both arenas counted at once.</summary>
    public long Bytes => Step.LoopBytes - Step.ConditioningBytes + Decode.Arena.Peak + RequestMemory.Reserve + SamplerBytes;

    /// <summary>One line for the log: the total and the largest buffers of each arena.</summary>
    public string Describe() =>
        $"{ArenaPlan.FormatBytes(Bytes)} (UNet step: {Step.Arena.Describe(3)}; VAE decode of {DecodeChunk} frame(s) at a time: {Decode.Arena.Describe(3)}"
        + (SamplerBytes > 0 ? $"; sampler history {ArenaPlan.FormatBytes(SamplerBytes)})" : ")");
}

/// <summary>
/// What a request's device arenas need, checked before any work, and, when they do not fit, what would: the largest
/// frame count at the requested size and the largest size of the requested shape at the requested frame count.
/// </summary>
public static class RequestMemory
{
    /// <summary>Bytes kept free beside each arena for the libraries (cuBLAS workspaces, graph and module memory).</summary>
    public const long Reserve = 256L << 20;

    /// <summary>
    /// Plans a request of <paramref name="frames"/> frames at <paramref name="height"/> x <paramref name="width"/>
    /// pixels with <paramref name="batch"/> videos (2 with guidance) and <paramref name="textTokens"/> prompt tokens,
    /// without touching a device; <paramref name="samplerSlots"/> is the number of F32 latent-sized tensors the sampler
    /// keeps between steps (<see cref="Scheduling.Sampler.StateSlots"/>).
    /// </summary>
    public static RequestPlan Plan(RequestModels models, int batch, int frames, int height, int width, int textTokens, int decodeChunk, int samplerSlots = 0) =>
        Plan(models, batch, frames, height, width, textTokens, MemoryChoices.Default(decodeChunk), samplerSlots);

    /// <summary>
    /// Plans a request as <see cref="Plan(RequestModels, int, int, int, int, int, int, int)"/> does, under <paramref name="choices"/>:
    /// with <see cref="MemoryChoices.SplitGuidance"/> the step's arena is one video's, run once per video.
    /// </summary>
    public static RequestPlan Plan(RequestModels models, int batch, int frames, int height, int width, int textTokens, MemoryChoices choices, int samplerSlots = 0)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(choices);
        var chunk = Math.Min(choices.DecodeChunk, frames);
        var step = PlanStep(models, batch, frames, height, width, textTokens, choices);
        var decode = PlanDecode(models, chunk, height, width, choices.DecodeTile);
        return new RequestPlan(
            step, decode, chunk, samplerSlots * SamplerSlotBytes(models, frames, height, width), choices.DecodeTile, choices.ReleaseEncoders,
            TileCount(models, height, width, choices.DecodeTile));
    }

    /// <summary>The decode of <paramref name="chunk"/> frames, whole or (with <paramref name="tile"/>) of the largest tile (<see cref="VaeTiles"/>).</summary>
    public static ForwardPlan PlanDecode(RequestModels models, int chunk, int height, int width, int? tile)
    {
        ArgumentNullException.ThrowIfNull(models);
        var scale = models.Vae.ScaleFactor;
        var (h, w) = tile is { } t ? new VaeTiles(height / scale, width / scale, t, scale).Sizes[0] : (height / scale, width / scale);
        return PlannedVaeDecode.PlanDecode(models.VaeDType, models.Vae, models.VaeShapes, chunk, h, w);
    }

    /// <summary>Tiles per frame of a decode in tiles of <paramref name="tile"/> latent pixels (1 for null: whole frames).</summary>
    public static int TileCount(RequestModels models, int height, int width, int? tile)
    {
        ArgumentNullException.ThrowIfNull(models);
        var scale = models.Vae.ScaleFactor;
        return tile is { } t ? new VaeTiles(height / scale, width / scale, t, scale).Tiles.Count : 1;
    }

    /// <summary>One F32 latent-sized tensor of one video, the unit of a sampler's state between steps.</summary>
    public static long SamplerSlotBytes(RequestModels models, int frames, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(models);
        var scale = models.Vae.ScaleFactor;
        return (long)frames * (height / scale) * (width / scale) * models.Vae.LatentChannels * sizeof(float);
    }

    /// <summary>
    /// Plans only the request's UNet step under <paramref name="choices"/> (their decode chunk is not used); with
    /// <paramref name="caching"/> that caches, the full step's plan carries the cached step's (<see cref="UNetStepPlan.Cached"/>).
    /// </summary>
    public static UNetStepPlan PlanStep(RequestModels models, int batch, int frames, int height, int width, int textTokens, MemoryChoices choices, StepCaching? caching = null)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(choices);
        var scale = models.Vae.ScaleFactor;
        int h = height / scale, w = width / scale, cross = models.UNet.CrossAttentionDim;
        var runs = choices.SplitGuidance ? batch : 1;
        var videos = batch / runs;
        var spatial = choices.SpatialImages >= videos * frames ? int.MaxValue : choices.SpatialImages;
        if (caching is { Caches: true } c)
        {
            return PlannedUNetStep.PlanCachedSteps(
                models.UNetDType, models.UNet, models.UNetShapes, new TensorShape(videos * frames, h, w, models.UNet.InChannels),
                new TensorShape(videos, 1, cross), new TensorShape(videos, textTokens, cross), frames, runs, choices.FeedForwardHiddenBytes, c.DepthFor(models.UNet), spatial);
        }

        return PlannedUNetStep.PlanStep(
            models.UNetDType, models.UNet, models.UNetShapes, new TensorShape(videos * frames, h, w, models.UNet.InChannels),
            new TensorShape(videos, 1, cross), new TensorShape(videos, textTokens, cross), frames, runs, choices.FeedForwardHiddenBytes, spatial);
    }

    /// <summary>The sizes tried, as fractions of the requested height and width, largest first.</summary>
    private static readonly double[] Scales = [0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125];

    /// <summary>
    /// One sentence saying what fits in <paramref name="available"/> bytes: the largest frame count (at most
    /// <paramref name="frames"/>) at <paramref name="height"/> x <paramref name="width"/>, and the largest size of
    /// about that aspect ratio (multiples of <paramref name="multiple"/> pixels) at <paramref name="frames"/> frames.
    /// <paramref name="need"/> gives the bytes a request of (frames, height, width) needs; it is assumed to grow with
    /// each argument.
    /// </summary>
    public static string WhatFits(Func<int, int, int, long> need, long available, int frames, int height, int width, int multiple = 8)
    {
        ArgumentNullException.ThrowIfNull(need);
        ArgumentOutOfRangeException.ThrowIfLessThan(frames, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(multiple, 1);
        var parts = new List<string>();

        // The largest frame count that fits, by bisection over [1, frames - 1].
        int low = 0, high = frames - 1;
        while (low < high)
        {
            var middle = (low + high + 1) / 2;
            if (need(middle, height, width) <= available)
            {
                low = middle;
            }
            else
            {
                high = middle - 1;
            }
        }

        if (low >= 1)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"up to {low} frame{(low == 1 ? "" : "s")} at {width}x{height}"));
        }

        foreach (var scale in Scales)
        {
            int h = RoundDown(height * scale, multiple), w = RoundDown(width * scale, multiple);
            if (h < multiple || w < multiple)
            {
                break;
            }

            if (need(frames, h, w) <= available)
            {
                parts.Add(string.Create(CultureInfo.InvariantCulture, $"{w}x{h} at {frames} frame{(frames == 1 ? "" : "s")}"));
                break;
            }
        }

        return parts.Count == 0
            ? $"Nothing smaller fits in the {ArenaPlan.FormatBytes(available)} free either: free device memory (other processes), or run on the CPU."
            : $"What would fit in the {ArenaPlan.FormatBytes(available)} free: {string.Join(", or ", parts)}.";
    }

    private static int RoundDown(double value, int multiple) => (int)(value / multiple) * multiple;
}
