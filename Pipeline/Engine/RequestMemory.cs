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
/// <param name="ImageEncoder">The CLIP image encoder's config (it runs in <paramref name="UNetDType"/>, on the UNet's backend).</param>
/// <param name="ImageEncoderShapes">The image encoder's weight layout.</param>
public sealed record RequestModels(
    DType UNetDType, UNetConfig UNet, IReadOnlyList<WeightManifestEntry> UNetShapes, DType VaeDType, VaeConfig Vae, IReadOnlyList<WeightManifestEntry> VaeShapes,
    ClipVisionConfig ImageEncoder, IReadOnlyList<WeightManifestEntry> ImageEncoderShapes);

/// <summary>
/// The memory one request plans, stage by stage (<see cref="RequestStage"/>): its image encode's arenas, its UNet step's
/// and its VAE decode's, each with a reserve beside it, and what the sampler keeps between steps (the multistep history:
/// F32 slots of the latents' size, allocated with the loop).
/// </summary>
/// <param name="Encode">The image's encode stage.</param>
/// <param name="Step">The UNet step.</param>
/// <param name="Decode">The decode of <paramref name="DecodeChunk"/> frames.</param>
/// <param name="DecodeChunk">Frames decoded at a time.</param>
/// <param name="SamplerBytes">The sampler's state between steps (0 for DDIM).</param>
/// <param name="DecodeTile">The side in latent pixels of the decode's tiles (null: whole frames; <see cref="MemoryChoices.DecodeTile"/>).</param>
/// <param name="Residency">Which models stay loaded between the stages (<see cref="MemoryChoices.Residency"/>).</param>
/// <param name="DecodeTiles">Tiles per frame (1 untiled); <paramref name="Decode"/> is the largest tile's decode.</param>
public sealed record RequestPlan(
    EncodePlan Encode, UNetStepPlan Step, ForwardPlan Decode, int DecodeChunk, long SamplerBytes = 0, int? DecodeTile = null,
    WeightResidency Residency = WeightResidency.KeepAll, int DecodeTiles = 1)
{
    /// <summary>The choices this plan was made under.</summary>
    public MemoryChoices Choices => new(Step.Runs > 1, Step.FeedForwardHiddenBytes, DecodeChunk, Step.SpatialImages, DecodeTile, Residency);

    /// <summary>The encode stage's activations outside the weights (<see cref="EncodePlan.Bytes"/>).</summary>
    public long EncodeBytes => Encode.Bytes;

    /// <summary>Every step's embedding, computed before the loop and kept through it (set by the planner, which knows the steps).</summary>
    public long StepEmbeddingsBytes { get; init; }

    /// <summary>The denoising loop's activations outside the weights: the step's (<see cref="UNetStepPlan.LoopBytes"/>), the step embeddings and the sampler's history.</summary>
    public long DenoiseBytes => Step.LoopBytes + StepEmbeddingsBytes + SamplerBytes;

    /// <summary>The decode's activations: its arena (of the largest tile when tiled) and the reserve beside it.</summary>
    public long DecodeBytes => Decode.Arena.Peak + RequestMemory.Reserve;

    /// <summary>The largest stage's activations outside the weights (the stages run one after the other).</summary>
    public long ActivationBytes => Math.Max(EncodeBytes, Math.Max(DenoiseBytes, DecodeBytes));

    /// <summary>The activations of <paramref name="stage"/> outside the weights.</summary>
    public long Bytes(RequestStage stage) => stage switch
    {
        RequestStage.Encode => EncodeBytes,
        RequestStage.Denoise => DenoiseBytes,
        _ => DecodeBytes,
    };

    /// <summary>One line for the log: each stage's bytes and the largest buffers of the step's and the decode's arenas.</summary>
    public string Describe() =>
        $"encode {ArenaPlan.FormatBytes(EncodeBytes)}; denoising {ArenaPlan.FormatBytes(DenoiseBytes)} (UNet step: {Step.Arena.Describe(3)}"
        + (SamplerBytes > 0 ? $"; sampler history {ArenaPlan.FormatBytes(SamplerBytes)}" : "")
        + $"); decode {ArenaPlan.FormatBytes(DecodeBytes)} ({DecodeChunk} frame(s) at a time: {Decode.Arena.Describe(3)})";
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
    /// with <see cref="MemoryChoices.SplitGuidance"/> the step's arena is one video's, run once per video; with
    /// <paramref name="caching"/> that caches, the cached step is planned beside the full one.
    /// </summary>
    public static RequestPlan Plan(
        RequestModels models, int batch, int frames, int height, int width, int textTokens, MemoryChoices choices, int samplerSlots = 0, StepCaching? caching = null)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(choices);
        var chunk = Math.Min(choices.DecodeChunk, frames);
        var step = PlanStep(models, batch, frames, height, width, textTokens, choices, caching);
        var decode = PlanDecode(models, chunk, height, width, choices.DecodeTile);
        return new RequestPlan(
            PlannedImageEncode.Plan(models, height, width), step, decode, chunk, samplerSlots * SamplerSlotBytes(models, frames, height, width), choices.DecodeTile,
            choices.Residency, TileCount(models, height, width, choices.DecodeTile));
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
