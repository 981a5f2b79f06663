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
public sealed record MemoryRequest(int Batch, int Frames, int Height, int Width, int TextTokens, int Steps, int? DecodeChunk = null, long SamplerBytes = 0, StepCaching? Caching = null);

/// <summary>
/// Chooses, before any work, the cheapest <see cref="MemoryChoices"/> whose activations fit a limit: the fewest kernel
/// launches (every choice computes the same FLOPs; smaller pieces only mean more launches). The UNet step and the VAE
/// decode run one after the other on arenas of their own (the step's is freed before the decode's is taken), so each
/// stage is chosen on its own: for the step, for each way of running the guided batch, the largest feed-forward chunk
/// that fits, then the cheaper of those; for the decode, the most frames at a time that fit. A request that does not
/// fit even with the smallest choices is refused with what would fit (docs/performance.md, "Memory budget").
/// </summary>
public static class MemoryPlanner
{
    /// <summary>
    /// What a budget counts beside the weights and the activations: the CUDA context with its loaded kernels and library
    /// handles (512 MiB, an estimate still to be measured on a card) and the ops' shared workspace (256 MiB, the CUDA
    /// backend's default).
    /// </summary>
    public const long DeviceOverhead = (512L + 256L) << 20;

    /// <summary>Feed-forward chunk bounds tried, largest (cheapest) first: none, 1 GiB, 256 MiB, 64 MiB, 16 MiB.</summary>
    public static IReadOnlyList<long> FeedForwardChoices { get; } = [long.MaxValue, 1L << 30, 256L << 20, 64L << 20, 16L << 20];

    /// <summary>Decode chunks tried, largest first: every frame, then 8, 4, 2 and 1 (those below <paramref name="frames"/>), or only the fixed one.</summary>
    public static IReadOnlyList<int> DecodeChoices(int frames, int? fixedChunk) =>
        fixedChunk is { } chunk ? [Math.Min(chunk, frames)] : [.. new[] { frames, 8, 4, 2, 1 }.Where(c => c <= frames).Distinct()];

    /// <summary>The smallest choices for <paramref name="request"/>: what a request that does not fit them cannot be made to fit by this planner.</summary>
    public static MemoryChoices Smallest(MemoryRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return new MemoryChoices(request.Batch > 1, FeedForwardChoices[^1], DecodeChoices(request.Frames, request.DecodeChunk)[^1]);
    }

    /// <summary>
    /// Plans <paramref name="request"/> so that each stage's activations fit in <paramref name="limit"/> bytes, with
    /// <paramref name="resident"/> bytes (weights, and the device's overhead when a budget counts it) beside them;
    /// <paramref name="forced"/> skips the choosing. <paramref name="budget"/> and <paramref name="where"/> are for
    /// the plan's description and the refusal.
    /// </summary>
    /// <exception cref="ArenaOutOfMemoryException">Nothing fits; the message says what would.</exception>
    public static MemoryPlan Plan(RequestModels models, MemoryRequest request, long resident, long limit, long? budget, string where, MemoryChoices? forced = null)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(request);

        // A multistep sampler's history lives through the whole request, beside each stage's arena.
        (resident, limit) = (resident + request.SamplerBytes, limit - request.SamplerBytes);
        var planner = new Candidates(models, request);
        var unconstrained = planner.Step(false, long.MaxValue);
        UNetStepPlan? step;
        ForwardPlan? decode;
        int chunk;
        if (forced is not null)
        {
            chunk = Math.Min(forced.DecodeChunk, request.Frames);
            step = planner.Step(forced.SplitGuidance && request.Batch > 1, forced.FeedForwardHiddenBytes);
            decode = planner.Decode(chunk);
            if (StepBytes(step) > limit || DecodeBytes(decode) > limit)
            {
                throw Refuse(planner, request, resident, limit, budget, where);
            }
        }
        else
        {
            step = ChooseStep(planner, request, unconstrained, limit);
            (decode, chunk) = ChooseDecode(planner, request, limit);
            if (step is null || decode is null)
            {
                throw Refuse(planner, request, resident, limit, budget, where);
            }
        }

        var plan = new RequestPlan(step, decode, chunk, request.SamplerBytes);
        var baseline = MemoryPlan.Launch(unconstrained.Forward.Ops, 1, decode.Ops, request.Frames, request.Frames, request.Steps);
        return new MemoryPlan(plan.Choices, plan, resident, limit, budget, request.Frames, request.Steps, baseline);
    }

    /// <summary>The step's activations outside the weights: its arena, the reserve beside it, the conditioning it reads.</summary>
    private static long StepBytes(UNetStepPlan step) => step.LoopBytes;

    private static long DecodeBytes(ForwardPlan decode) => decode.Arena.Peak + RequestMemory.Reserve;

    private static UNetStepPlan? ChooseStep(Candidates planner, MemoryRequest request, UNetStepPlan unconstrained, long limit)
    {
        if (StepBytes(unconstrained) <= limit)
        {
            return unconstrained;
        }

        // For each way of running the guided batch, the largest feed-forward chunk that fits (smaller ones cost more
        // launches), then the cheaper of the two.
        var fitting = new List<UNetStepPlan>();
        foreach (var split in request.Batch > 1 ? new[] { false, true } : [false])
        {
            foreach (var bytes in FeedForwardChoices)
            {
                var step = split || bytes != long.MaxValue ? planner.Step(split, bytes) : unconstrained;
                if (StepBytes(step) <= limit)
                {
                    fitting.Add(step);
                    break;
                }
            }
        }

        return fitting.OrderBy(s => (long)s.Runs * s.Forward.Ops).ThenBy(StepBytes).FirstOrDefault();
    }

    private static (ForwardPlan? Decode, int Chunk) ChooseDecode(Candidates planner, MemoryRequest request, long limit)
    {
        foreach (var chunk in DecodeChoices(request.Frames, request.DecodeChunk))
        {
            var decode = planner.Decode(chunk);
            if (DecodeBytes(decode) <= limit)
            {
                return (decode, chunk);
            }
        }

        return (null, 0);
    }

    private static ArenaOutOfMemoryException Refuse(Candidates planner, MemoryRequest request, long resident, long limit, long? budget, string where)
    {
        var smallest = Smallest(request);
        long Need(MemoryRequest r)
        {
            var plan = RequestMemory.Plan(planner.Models, r.Batch, r.Frames, r.Height, r.Width, r.TextTokens, Smallest(r));
            return Math.Max(StepBytes(plan.Step), DecodeBytes(plan.Decode));
        }

        var need = Need(request);
        var room = budget is { } b
            ? $"the budget of {ArenaPlan.FormatBytes(b)} leaves {ArenaPlan.FormatBytes(Math.Max(0, limit))} for them beside {ArenaPlan.FormatBytes(resident)} of weights and device overhead"
            : $"{ArenaPlan.FormatBytes(limit)} is free in {where}";
        var fits = RequestMemory.WhatFits((f, h, w) => Need(request with { Frames = f, Height = h, Width = w }), Math.Max(0, limit), request.Frames, request.Height, request.Width, planner.Models.Vae.ScaleFactor);
        if (budget is not null)
        {
            // Under a budget the advice that helps most is the budget this video needs.
            var nothing = fits.StartsWith("Nothing smaller fits", StringComparison.Ordinal);
            fits = (nothing ? "Nothing smaller fits either" : fits.TrimEnd('.')) + $"; or a budget of {ArenaPlan.FormatBytes(resident + need)} or more for this video.";
        }

        return new ArenaOutOfMemoryException(
            $"A {request.Width}x{request.Height} video of {request.Frames} frame{(request.Frames == 1 ? "" : "s")} needs at least {ArenaPlan.FormatBytes(need)} for its activations "
            + $"even with the smallest memory choices ({smallest.Describe()}), but {room}. {fits}");
    }

    /// <summary>Plans of one request's stages under given choices, each planned once.</summary>
    private sealed class Candidates(RequestModels models, MemoryRequest request)
    {
        private readonly Dictionary<(bool, long), UNetStepPlan> _steps = [];
        private readonly Dictionary<int, ForwardPlan> _decodes = [];

        public RequestModels Models => models;

        public UNetStepPlan Step(bool split, long feedForwardBytes)
        {
            if (!_steps.TryGetValue((split, feedForwardBytes), out var step))
            {
                var choices = new MemoryChoices(split, feedForwardBytes, 1);
                step = RequestMemory.PlanStep(models, request.Batch, request.Frames, request.Height, request.Width, request.TextTokens, choices, request.Caching);
                _steps[(split, feedForwardBytes)] = step;
            }

            return step;
        }

        public ForwardPlan Decode(int chunk)
        {
            if (!_decodes.TryGetValue(chunk, out var decode))
            {
                var scale = models.Vae.ScaleFactor;
                decode = PlannedVaeDecode.PlanDecode(models.VaeDType, models.Vae, models.VaeShapes, chunk, request.Height / scale, request.Width / scale);
                _decodes[chunk] = decode;
            }

            return decode;
        }
    }
}
