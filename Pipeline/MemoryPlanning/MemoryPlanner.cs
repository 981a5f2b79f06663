using CudaI2V.Kernels.Memory;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Runtime.Memory;

namespace CudaI2V.Pipeline.MemoryPlanning;

/// <summary>What one request asks for, as far as its memory goes.</summary>
/// <param name="Batch">Videos per UNet call: 2 with classifier-free guidance, else 1.</param>
/// <param name="Frames">Frames of video.</param>
/// <param name="Height">Height in pixels.</param>
/// <param name="Width">Width in pixels.</param>
/// <param name="TextTokens">Prompt tokens.</param>
/// <param name="Steps">Denoising steps (for the cost).</param>
/// <param name="DecodeChunk">Frames the VAE decodes at a time when the caller fixed it; null lets the planner choose.</param>
/// <param name="SamplerBytes">The sampler's state kept between steps (a multistep sampler's history; 0 for DDIM), held through the request.</param>
/// <param name="Caching">Step caching (a second, cached step kind planned beside the full one), or null.</param>
public sealed record MemoryRequest(int Batch, int Frames, int Height, int Width, int TextTokens, int Steps, int? DecodeChunk = null, long SamplerBytes = 0, StepCaching? Caching = null)
{
    /// <summary>
    /// What a request of <paramref name="options"/> asks for, with <paramref name="samplerSlots"/> latent-sized F32 tensors
    /// of sampler state (<see cref="Scheduling.Sampler.StateSlots"/> of the sampler it runs) and <paramref name="textTokens"/>
    /// prompt tokens: the one reading of a request's options that <c>generate</c>, the API and <c>cudai2v plan</c> plan.
    /// </summary>
    public static MemoryRequest Of(GenerationOptions options, RequestModels models, int samplerSlots, int textTokens = 77)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(models);
        var samplerBytes = samplerSlots * RequestMemory.SamplerSlotBytes(models, options.Frames, options.Height, options.Width);
        return new MemoryRequest(options.UsesGuidance ? 2 : 1, options.Frames, options.Height, options.Width, textTokens, options.Steps, options.DecodeChunk, samplerBytes, StepCaching.Of(options));
    }
}

/// <summary>
/// Chooses, before any work, the cheapest <see cref="MemoryChoices"/> whose memory fits. A request runs three stages one
/// after the other (<see cref="RequestStage"/>: the image encode, the denoising loop, the decode), each on arenas of its
/// own freed before the next stage takes its own, so each stage must fit beside the weights it holds, and the planned
/// peak is the largest stage's. The step and the decode are chosen on their own: for the step, for each way of running
/// the guided batch and each spatial chunk of frames, the largest feed-forward chunk that fits, then the one of fewest
/// launches; for the decode, the most frames at a time that fit, whole frames before tiles (tiles are not exact; frames
/// above 1280x704 are always tiled). This is done for each <see cref="WeightResidency"/> (which models stay loaded
/// between stages), and the plan of the lowest <see cref="CostInLaunches"/> wins: launches, with the weights a residency uploads
/// again per request counted as launches.
/// A request that does not fit even with the smallest choices is refused with what would fit (docs/performance.md,
/// "Memory budget").
/// </summary>
public static class MemoryPlanner
{
    /// <summary>
    /// What a budget counts beside the weights and the activations: the CUDA context with its loaded kernels and library
    /// handles (512 MiB, an estimate still to be measured on a card) and the ops' shared workspace (256 MiB, the CUDA
    /// backend's default).
    /// </summary>
    public const long DeviceOverhead = (512L + 256L) << 20;

    /// <summary>Frames of more pixels than 1280x704 are decoded in tiles whatever the budget (diffusers' VAE was trained on smaller images).</summary>
    public const long TileAbovePixels = 1280L * 704;

    /// <summary>Feed-forward chunk bounds tried, largest (cheapest) first: none, 1 GiB, 256 MiB, 64 MiB, 16 MiB.</summary>
    public static IReadOnlyList<long> FeedForwardChoices { get; } = [long.MaxValue, 1L << 30, 256L << 20, 64L << 20, 16L << 20];

    /// <summary>Frame-images per chunk of the spatial layers tried, largest first: all of a run's, then 8, 4, 2 and 1 (those below <paramref name="images"/>).</summary>
    public static IReadOnlyList<int> SpatialChoices(int images) => [int.MaxValue, .. SpatialChunks.Where(c => c < images)];

    private static readonly int[] SpatialChunks = [8, 4, 2, 1];

    /// <summary>Decode chunks tried, largest first: every frame, then 8, 4, 2 and 1 (those below <paramref name="frames"/>), or only the fixed one.</summary>
    public static IReadOnlyList<int> DecodeChoices(int frames, int? fixedChunk) =>
        fixedChunk is { } chunk ? [Math.Min(chunk, frames)] : [.. new[] { frames, 8, 4, 2, 1 }.Where(c => c <= frames).Distinct()];

    /// <summary>
    /// Decode tiles tried (latent pixels), largest first: none unless the frame is above <see cref="TileAbovePixels"/>,
    /// then diffusers' tile (the config's sample_size over the scale, a multiple of 4) and its half and quarter, each
    /// only while smaller than the frame.
    /// </summary>
    public static IReadOnlyList<int?> TileChoices(RequestModels models, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(models);
        var scale = models.Vae.ScaleFactor;
        int h = height / scale, w = width / scale, tile = Math.Max(4, models.Vae.SampleSize / scale / 4 * 4);
        var tiles = new List<int?>();
        if ((long)height * width <= TileAbovePixels)
        {
            tiles.Add(null);
        }

        foreach (var t in new[] { tile, tile / 2 / 4 * 4, tile / 4 / 4 * 4 }.Where(t => t >= 8).Distinct())
        {
            if (t < Math.Max(h, w) || tiles.Count == 0)
            {
                tiles.Add(t);
            }
        }

        return tiles;
    }

    /// <summary>The smallest choices for <paramref name="request"/>: what a request that does not fit them cannot be made to fit by this planner.</summary>
    public static MemoryChoices Smallest(RequestModels models, MemoryRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return new MemoryChoices(
            request.Batch > 1, FeedForwardChoices[^1], DecodeChoices(request.Frames, request.DecodeChunk)[^1], 1, TileChoices(models, request.Height, request.Width)[^1],
            WeightResidency.OneStageAtATime);
    }

    /// <summary>
    /// Plans <paramref name="request"/> for a device whose models weigh <paramref name="weights"/>: under
    /// <paramref name="budget"/> (weights, <see cref="DeviceOverhead"/> and each stage's activations counted) when one is
    /// given, and within <paramref name="available"/> bytes (the device's free memory with none of the releasable models
    /// loaded; <see cref="long.MaxValue"/>: no device). <paramref name="forced"/> skips the choosing; <paramref name="residency"/>
    /// chooses among plans of that weight residency only (a refine's low pass runs under its requested size's);
    /// <paramref name="where"/> names the device in a refusal. The one planning path of <c>generate</c>, the API and
    /// <c>cudai2v plan</c>.
    /// </summary>
    /// <exception cref="ArenaOutOfMemoryException">Nothing fits; the message says what would.</exception>
    public static MemoryPlan Plan(RequestModels models, MemoryRequest request, ComponentWeights weights, long? budget, long available, string where, MemoryChoices? forced = null, WeightResidency? residency = null)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(weights);
        var overhead = budget is null ? 0 : DeviceOverhead;
        var room = Math.Min(budget is { } b ? b - overhead : long.MaxValue, available);

        var planner = new Candidates(models, request);
        var unconstrained = planner.Step(false, long.MaxValue, int.MaxValue);
        var baseline = MemoryPlan.Launch(unconstrained.OpsOf(request.Caching, request.Steps), planner.Decode(request.Frames, null).Ops, 1, request.Frames, request.Frames);
        var fixedLoop = request.SamplerBytes + (request.Steps * unconstrained.StepEmbeddingBytes);
        MemoryPlan Finish(RequestPlan plan, WeightResidency residency) =>
            new(plan.Choices with { Residency = residency }, ForRequest(plan, request) with { Residency = residency },
                weights, overhead, room, budget, request.Frames, request.Steps, baseline)
            {
                Caching = request.Caching,
            };

        IReadOnlyList<WeightResidency> residencies = !weights.Releasable ? [WeightResidency.KeepAll] : residency is { } only ? [only] : WeightResidencies.All;
        if (forced is not null)
        {
            var plan = Finish(planner.Plan(forced), weights.Releasable ? forced.Residency : WeightResidency.KeepAll);
            return plan.Peak - overhead <= room ? plan : throw Refuse(planner, request, weights, room, budget, where);
        }

        // For each residency, the stages' room beside the weights it holds; the cheapest plan that fits them all.
        var encode = planner.Encode();
        var fitting = new List<MemoryPlan>();
        foreach (var held in residencies)
        {
            long Room(RequestStage stage) => room == long.MaxValue ? long.MaxValue : room - weights.Held(held, stage);
            if (encode.Bytes > Room(RequestStage.Encode))
            {
                continue;
            }

            var step = ChooseStep(planner, request, Room(RequestStage.Denoise) == long.MaxValue ? long.MaxValue : Room(RequestStage.Denoise) - fixedLoop);
            var decode = ChooseDecode(planner, request, Room(RequestStage.Decode));
            if (step is not null && decode is { } d)
            {
                fitting.Add(Finish(new RequestPlan(encode, step, d.Plan, d.Chunk, DecodeTile: d.Tile, DecodeTiles: d.Tiles), held));
            }
        }

        return fitting.OrderBy(CostInLaunches).ThenBy(p => p.ReloadedBytes).FirstOrDefault() ?? throw Refuse(planner, request, weights, room, budget, where);
    }

    /// <summary>
    /// <see cref="Plan"/> for a request of <paramref name="options"/> (<see cref="MemoryRequest.Of"/>, with
    /// <paramref name="samplerSlots"/> latents of sampler history and <paramref name="textTokens"/> prompt tokens; its
    /// <see cref="GenerationOptions.MemoryChoices"/> forced when set), and a refine's low pass
    /// (<see cref="MemoryPlan.LowPass"/>) planned under the same budget and the requested size's weight residency, since it
    /// runs between that plan's encode and its tail. What <c>generate</c>, the API and <c>cudai2v plan</c> call.
    /// </summary>
    /// <exception cref="ArenaOutOfMemoryException">Nothing fits; the message says what would.</exception>
    public static MemoryPlan PlanRequest(
        RequestModels models, GenerationOptions options, int samplerSlots, int textTokens, ComponentWeights weights, long? budget, long available, string where)
    {
        ArgumentNullException.ThrowIfNull(options);
        var plan = Plan(models, MemoryRequest.Of(options, models, samplerSlots, textTokens), weights, budget, available, where, options.MemoryChoices);
        if (options.RefineFrom is not { } from)
        {
            return plan;
        }

        var low = options with { Width = from.Width, Height = from.Height, RefineFrom = null };
        return plan with
        {
            LowPass = Plan(models, MemoryRequest.Of(low, models, samplerSlots, textTokens), weights, budget, available, where, options.MemoryChoices, plan.Choices.Residency),
        };
    }

    /// <summary>
    /// Weights uploaded again counted as one launch per this many bytes when plans are compared: a small kernel's launch
    /// and tail take about 10 us, in which an upload from pageable host memory over PCIe 4 (about 8 GB/s) moves about
    /// 80 KB. Both figures are estimates still to be measured on a card; they only decide between plans that both fit.
    /// </summary>
    public const long ReloadBytesPerLaunch = 80_000;

    /// <summary>What the planner minimises: the plan's launches, and its weights uploaded again per request as launches (<see cref="ReloadBytesPerLaunch"/>).</summary>
    public static long CostInLaunches(MemoryPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return plan.Launches + (plan.ReloadedBytes / ReloadBytesPerLaunch);
    }

    /// <summary>The step's activations outside the weights: its arena, the reserve beside it, the conditioning and buffers it reads.</summary>
    public static long StepBytes(UNetStepPlan step) => step.LoopBytes;

    /// <summary>The decode's activations: its arena (of the largest tile when tiled) and the reserve beside it.</summary>
    public static long DecodeBytes(ForwardPlan decode) => decode.Arena.Peak + RequestMemory.Reserve;

    private static UNetStepPlan? ChooseStep(Candidates planner, MemoryRequest request, long limit)
    {
        var unconstrained = planner.Step(false, long.MaxValue, int.MaxValue);
        if (StepBytes(unconstrained) <= limit)
        {
            return unconstrained;
        }

        // For each way of running the guided batch and each spatial chunk, the largest feed-forward chunk that fits
        // (smaller ones cost more launches), then the one of fewest launches.
        var fitting = new List<UNetStepPlan>();
        foreach (var split in request.Batch > 1 ? new[] { false, true } : [false])
        {
            foreach (var spatial in SpatialChoices((split ? 1 : request.Batch) * request.Frames))
            {
                foreach (var bytes in FeedForwardChoices)
                {
                    var step = planner.Step(split, bytes, spatial);
                    if (StepBytes(step) <= limit)
                    {
                        fitting.Add(step);
                        break;
                    }
                }
            }
        }

        return fitting.OrderBy(s => (long)s.Runs * s.Forward.Ops).ThenBy(StepBytes).FirstOrDefault();
    }

    private static (ForwardPlan Plan, int Chunk, int? Tile, int Tiles)? ChooseDecode(Candidates planner, MemoryRequest request, long limit)
    {
        // Whole frames first (exact), then ever smaller tiles; within each, the most frames at a time that fit.
        foreach (var tile in TileChoices(planner.Models, request.Height, request.Width))
        {
            foreach (var chunk in DecodeChoices(request.Frames, request.DecodeChunk))
            {
                var decode = planner.Decode(chunk, tile);
                if (DecodeBytes(decode) <= limit)
                {
                    return (decode, chunk, tile, planner.TileCount(tile));
                }
            }
        }

        return null;
    }

    /// <summary>The smallest choices with the most releasing residency <paramref name="weights"/> allow.</summary>
    private static MemoryChoices SmallestFor(RequestModels models, MemoryRequest request, ComponentWeights weights) =>
        Smallest(models, request) with { Residency = weights.Releasable ? WeightResidency.OneStageAtATime : WeightResidency.KeepAll };

    /// <summary>A plan with what the request holds whatever the choices: the sampler's history and every step's embedding.</summary>
    private static RequestPlan ForRequest(RequestPlan plan, MemoryRequest request) =>
        plan with { SamplerBytes = request.SamplerBytes, StepEmbeddingsBytes = request.Steps * plan.Step.StepEmbeddingBytes };

    /// <summary>
    /// What a request of the given size needs at the smallest choices, weights included, beside the device overhead: its
    /// largest stage's weights and activations.
    /// </summary>
    private static long Need(RequestModels models, MemoryRequest request, ComponentWeights weights)
    {
        var choices = SmallestFor(models, request, weights);
        var plan = ForRequest(RequestMemory.Plan(models, request.Batch, request.Frames, request.Height, request.Width, request.TextTokens, choices, caching: request.Caching), request);
        return MemoryPlan.Stages.Max(stage => weights.Held(choices.Residency, stage) + plan.Bytes(stage));
    }

    private static ArenaOutOfMemoryException Refuse(Candidates planner, MemoryRequest request, ComponentWeights weights, long room, long? budget, string where)
    {
        var models = planner.Models;
        var smallest = SmallestFor(models, request, weights);
        var need = Need(models, request, weights);
        var what = weights.Total > 0 ? "for its weights and activations" : "for its activations";
        var text = budget is { } b
            ? $"the budget of {ArenaPlan.FormatBytes(b)} leaves {ArenaPlan.FormatBytes(Math.Max(0, room))} beside {ArenaPlan.FormatBytes(DeviceOverhead)} of device overhead"
            : $"{ArenaPlan.FormatBytes(room)} is free in {where}";
        long NeedOf(int f, int h, int w)
        {
            var r = request with { Frames = f, Height = h, Width = w, SamplerBytes = (long)((double)request.SamplerBytes * f * h * w / ((double)request.Frames * request.Height * request.Width)) };
            return Need(models, r, weights);
        }

        var fits = RequestMemory.WhatFits(NeedOf, Math.Max(0, room), request.Frames, request.Height, request.Width, models.Vae.ScaleFactor);
        if (budget is not null)
        {
            // Under a budget the advice that helps most is the budget this video needs.
            var enough = ArenaPlan.FormatBytes(DeviceOverhead + need);
            fits = fits.StartsWith("Nothing smaller fits", StringComparison.Ordinal)
                ? $"No smaller video fits this budget either; a budget of {enough} or more fits this one."
                : fits.TrimEnd('.') + $"; or a budget of {enough} or more for this video.";
        }

        return new ArenaOutOfMemoryException(
            $"A {request.Width}x{request.Height} video of {request.Frames} frame{(request.Frames == 1 ? "" : "s")} needs at least {ArenaPlan.FormatBytes(need)} {what} "
            + $"even with the smallest memory choices ({smallest.Describe()}), but {text}. {fits}");
    }

    /// <summary>Plans of one request's stages under given choices, each planned once.</summary>
    private sealed class Candidates(RequestModels models, MemoryRequest request)
    {
        private readonly Dictionary<(bool, long, int), UNetStepPlan> _steps = [];
        private readonly Dictionary<(int, int?), ForwardPlan> _decodes = [];
        private EncodePlan? _encode;

        public RequestModels Models => models;

        public UNetStepPlan Step(bool split, long feedForwardBytes, int spatial)
        {
            if (!_steps.TryGetValue((split, feedForwardBytes, spatial), out var step))
            {
                var choices = new MemoryChoices(split, feedForwardBytes, 1, spatial);
                step = RequestMemory.PlanStep(models, request.Batch, request.Frames, request.Height, request.Width, request.TextTokens, choices, request.Caching);
                _steps[(split, feedForwardBytes, spatial)] = step;
            }

            return step;
        }

        public ForwardPlan Decode(int chunk, int? tile)
        {
            if (!_decodes.TryGetValue((chunk, tile), out var decode))
            {
                decode = RequestMemory.PlanDecode(models, chunk, request.Height, request.Width, tile);
                _decodes[(chunk, tile)] = decode;
            }

            return decode;
        }

        public int TileCount(int? tile) => RequestMemory.TileCount(models, request.Height, request.Width, tile);

        public EncodePlan Encode() => _encode ??= PlannedImageEncode.Plan(models, request.Height, request.Width);

        public RequestPlan Plan(MemoryChoices choices) =>
            RequestMemory.Plan(models, request.Batch, request.Frames, request.Height, request.Width, request.TextTokens, choices, caching: request.Caching);
    }
}
