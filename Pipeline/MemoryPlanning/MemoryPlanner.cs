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
/// Chooses, before any work, the cheapest <see cref="MemoryChoices"/> whose memory fits: the fewest kernel launches
/// (every exact choice computes the same FLOPs; smaller pieces only mean more launches). The UNet step and the VAE
/// decode run one after the other on arenas of their own (the step's is freed before the decode's is taken), so each
/// stage is chosen on its own: for the step, for each way of running the guided batch and each spatial chunk of
/// frames, the largest feed-forward chunk that fits, then the one of fewest launches; for the decode, the most frames
/// at a time that fit, whole frames before tiles (tiles are not exact; frames above 1280x704 are always tiled). The
/// encoders' weights are released after use when that fits where keeping them does not, or fits at fewer launches.
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
            request.Batch > 1, FeedForwardChoices[^1], DecodeChoices(request.Frames, request.DecodeChunk)[^1], 1, TileChoices(models, request.Height, request.Width)[^1], true);
    }

    /// <summary>
    /// Plans <paramref name="request"/> on a device with <paramref name="weights"/> loaded: under <paramref name="budget"/>
    /// (weights, <see cref="DeviceOverhead"/> and the activations all counted) when one is given, and within
    /// <paramref name="available"/> bytes free beside the weights (the device's free memory with the encoders loaded;
    /// <see cref="long.MaxValue"/>: no device). <paramref name="forced"/> skips the choosing; <paramref name="where"/>
    /// names the device in a refusal. The one planning path of <c>generate</c>, the API and <c>cudai2v plan</c>.
    /// </summary>
    /// <exception cref="ArenaOutOfMemoryException">Nothing fits; the message says what would.</exception>
    public static MemoryPlan Plan(RequestModels models, MemoryRequest request, ComponentWeights weights, long? budget, long available, string where, MemoryChoices? forced = null)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(weights);
        var overhead = budget is null ? 0 : DeviceOverhead;

        // The resident bytes and the activations' limit, with the encoders kept or released. A multistep sampler's
        // history lives through the whole request, beside each stage's arena.
        (long Resident, long Limit) Room(bool release)
        {
            var resident = weights.Loop + (release ? 0 : weights.Encoders) + overhead + request.SamplerBytes;
            var free = available == long.MaxValue ? long.MaxValue : available + (release ? weights.Encoders : 0) - request.SamplerBytes;
            return (resident, budget is { } b ? Math.Min(b - resident, free) : free);
        }

        var planner = new Candidates(models, request);
        var unconstrained = planner.Step(false, long.MaxValue, int.MaxValue);
        var baseline = MemoryPlan.Launch(unconstrained.Forward.Ops, 1, planner.Decode(request.Frames, null).Ops, 1, request.Frames, request.Frames, request.Steps);
        RequestPlan? plan;
        bool released;
        if (forced is not null)
        {
            released = forced.ReleaseEncoders;
            plan = planner.Plan(forced);
            if (Math.Max(StepBytes(plan.Step), DecodeBytes(plan.Decode)) > Room(released).Limit)
            {
                throw Refuse(planner, request, Room(true), budget, where);
            }
        }
        else
        {
            var kept = Choose(planner, request, Room(false).Limit);
            var freed = Choose(planner, request, Room(true).Limit);
            released = kept is null || (freed is not null && Launches(freed, request) < Launches(kept, request));
            plan = released ? freed : kept;
            if (plan is null)
            {
                throw Refuse(planner, request, Room(true), budget, where);
            }
        }

        plan = plan with { SamplerBytes = request.SamplerBytes, ReleaseEncoders = released };
        var (residentBytes, limit) = Room(released);
        return new MemoryPlan(plan.Choices, plan, residentBytes, limit, budget, request.Frames, request.Steps, baseline) { EncoderBytes = weights.Encoders };
    }

    /// <summary>The step's activations outside the weights: its arena, the reserve beside it, the conditioning it reads.</summary>
    public static long StepBytes(UNetStepPlan step) => step.LoopBytes;

    /// <summary>The decode's activations: its arena (of the largest tile when tiled) and the reserve beside it.</summary>
    public static long DecodeBytes(ForwardPlan decode) => decode.Arena.Peak + RequestMemory.Reserve;

    private static long Launches(RequestPlan plan, MemoryRequest request) =>
        MemoryPlan.Launch(plan.Step.Forward.Ops, plan.Step.Runs, plan.Decode.Ops, plan.DecodeTiles, plan.DecodeChunk, request.Frames, request.Steps);

    /// <summary>The cheapest step and decode that fit <paramref name="limit"/>, or null.</summary>
    private static RequestPlan? Choose(Candidates planner, MemoryRequest request, long limit)
    {
        var step = ChooseStep(planner, request, limit);
        var decode = ChooseDecode(planner, request, limit);
        return step is null || decode is null ? null : new RequestPlan(step, decode.Value.Plan, decode.Value.Chunk, DecodeTile: decode.Value.Tile, DecodeTiles: decode.Value.Tiles);
    }

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

    private static ArenaOutOfMemoryException Refuse(Candidates planner, MemoryRequest request, (long Resident, long Limit) room, long? budget, string where)
    {
        var models = planner.Models;
        var smallest = Smallest(models, request);
        long Need(MemoryRequest r)
        {
            var plan = RequestMemory.Plan(models, r.Batch, r.Frames, r.Height, r.Width, r.TextTokens, Smallest(models, r));
            return Math.Max(StepBytes(plan.Step), DecodeBytes(plan.Decode));
        }

        var (resident, limit) = room;
        var need = Need(request);
        var text = budget is { } b
            ? $"the budget of {ArenaPlan.FormatBytes(b)} leaves {ArenaPlan.FormatBytes(Math.Max(0, limit))} for them beside {ArenaPlan.FormatBytes(resident)} of weights and device overhead"
            : $"{ArenaPlan.FormatBytes(limit)} is free in {where}";
        var fits = RequestMemory.WhatFits((f, h, w) => Need(request with { Frames = f, Height = h, Width = w }), Math.Max(0, limit), request.Frames, request.Height, request.Width, models.Vae.ScaleFactor);
        if (budget is not null)
        {
            // Under a budget the advice that helps most is the budget this video needs.
            var nothing = fits.StartsWith("Nothing smaller fits", StringComparison.Ordinal);
            fits = (nothing ? "Nothing smaller fits either" : fits.TrimEnd('.')) + $"; or a budget of {ArenaPlan.FormatBytes(resident + need)} or more for this video.";
        }

        return new ArenaOutOfMemoryException(
            $"A {request.Width}x{request.Height} video of {request.Frames} frame{(request.Frames == 1 ? "" : "s")} needs at least {ArenaPlan.FormatBytes(need)} for its activations "
            + $"even with the smallest memory choices ({smallest.Describe()}), but {text}. {fits}");
    }

    /// <summary>Plans of one request's stages under given choices, each planned once.</summary>
    private sealed class Candidates(RequestModels models, MemoryRequest request)
    {
        private readonly Dictionary<(bool, long, int), UNetStepPlan> _steps = [];
        private readonly Dictionary<(int, int?), ForwardPlan> _decodes = [];

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

        public RequestPlan Plan(MemoryChoices choices) =>
            RequestMemory.Plan(models, request.Batch, request.Frames, request.Height, request.Width, request.TextTokens, choices);
    }
}
