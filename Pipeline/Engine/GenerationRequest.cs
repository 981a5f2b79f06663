using CudaI2V.Kernels;
using CudaI2V.Layers.UNet;
using CudaI2V.Layers.Vae;
using CudaI2V.Loader.Configs;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Pipeline.MemoryPlanning;
using CudaI2V.Pipeline.Noise;
using CudaI2V.Pipeline.Output;
using CudaI2V.Pipeline.Scheduling;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Engine;

/// <summary>
/// One generation on a <see cref="VideoEngine"/>, stage by stage: <see cref="EncodePrompt"/>, <see cref="PlanMemory"/>,
/// <see cref="EncodeImage"/>, <see cref="Denoise"/> and <see cref="Decode"/>. The same code runs on every backend: the
/// request's UNet step and VAE decode are planned forwards on arenas taken from the backend's memory.
/// </summary>
internal sealed class GenerationRequest
{
    private readonly VideoEngine _engine;
    private readonly RgbImage _image;
    private readonly GenerationOptions _options;
    private readonly IGenerationObserver? _observer;
    private readonly StageClock _clock;
    private readonly CancellationToken _cancellation;
    private readonly SeededRandom _generator;
    private readonly ulong _seed;
    private readonly int _batch;
    private readonly StepCaching? _caching;
    private readonly List<int> _fullSteps = [];
    private Sampler? _sampler;
    private int _totalSteps;

    public GenerationRequest(
        VideoEngine engine, RgbImage image, GenerationOptions options, IProgress<GenerationProgress>? progress, IGenerationObserver? observer, CancellationToken cancellation)
    {
        _engine = engine;
        _image = image;
        _options = options;
        _observer = observer;
        _cancellation = cancellation;
        _clock = new StageClock(progress, cancellation);
        _seed = options.Seed ?? (ulong)Random.Shared.NextInt64();
        _generator = new SeededRandom(_seed);
        _batch = options.UsesGuidance ? 2 : 1;
        _caching = StepCaching.Of(options);
    }

    private IOps Ops => _engine.Ops;

    private IOps VaeOps => _engine.Models.VaeOps;

    private VaeConfig VaeConfig => _engine.Models.VaeConfig;

    private int Frames => _options.Frames;

    private int LatentChannels => VaeConfig.LatentChannels;

    /// <summary>Runs every stage and returns the video.</summary>
    public GenerationResult Run()
    {
        _sampler = _engine.CreateSampler(_options.Sampler, _options.Steps);
        _engine.Log?.Invoke($"sampler: {string.Join(", ", _sampler.Settings().Select(p => $"{p.Name} {p.Value}"))}");
        // The CPU checks the token between ops and inside long ones, so a cancelled step ends within a fraction of a second.
        var watch = new OpWatch(_cancellation, _clock.OpStarted);
        using var watchUNet = Ops.Watch(watch);
        using var watchVae = ReferenceEquals(VaeOps, Ops) ? null : VaeOps.Watch(watch);
        var promptEmbeds = EncodePrompt();

        // The plan is the requested size's, with a refine's low pass planned beside it under the same weight residency.
        var memory = PlanMemory(promptEmbeds.Shape[1], _options);
        var refine = _options.RefineFrom;
        var low = memory.LowPass;
        var tail = refine is null ? 0 : RefineSize.TailSteps(_options.Steps, _options.RefineStrength);
        _totalSteps = _sampler.NumInferenceSteps + tail;
        WarnWhenLong(memory.Request, low?.Request, tail);
        // The stages one after the other, each freeing the models the plan's residency does not hold in it first.
        var residency = memory.Request.Residency;
        Tensor latents;                                                                                              // (F, h, w, L), host
        if (refine is not { } from)
        {
            _engine.Models.Enter(RequestStage.Encode, residency);
            var (imageEmbeddings, imageLatents) = EncodeImage(_options.Width, _options.Height, memory.Request.Encode, reportDone: true);
            _engine.Models.Enter(RequestStage.Denoise, residency);
            _clock.Enter(GenerationStage.Denoising, _totalSteps);
            var initial = Latents.Initial(_options.InitialNoise, _generator, Frames, LatentH(_options.Height), LatentW(_options.Width), LatentChannels);  // (F, h, w, L)
            using (Ops.Memory.BeginScope())
            {
                latents = Ops.ToHost(Denoise(memory.Request, _sampler, promptEmbeds, imageEmbeddings, imageLatents, ScaleInitial(initial, _sampler), 0));
            }
        }
        else
        {
            latents = Refine(from, tail, memory.Request, low!.Request, promptEmbeds);
        }

        _clock.Leave(reportDone: false);
        _engine.Models.Enter(RequestStage.Decode, residency);
        var (video, frames) = Decode(memory.Request, latents);
        return new GenerationResult(frames, video, _seed, _clock.Times)
        {
            Memory = memory,
            FullSteps = _fullSteps,
            DenoisingSteps = _totalSteps,
            RefineSteps = tail,
        };
    }

    /// <summary>
    /// Low-resolution refine (docs/step-caching.md): every step at the smaller size, the latents upscaled bilinearly, noised
    /// to the tail's first timestep with the request's generator, and the schedule's tail at the requested size, its
    /// image conditioning computed again at that size. Returns the final latents at the requested size.
    /// </summary>
    private Tensor Refine(RefineSize from, int tail, RequestPlan memory, RequestPlan low, Tensor promptEmbeds)
    {
        // Both sizes' image conditioning first (host tensors), so that the denoising stage runs its passes in one.
        _engine.Models.Enter(RequestStage.Encode, memory.Residency);
        var (lowEmbeddings, lowImage) = EncodeImage(from.Width, from.Height, low.Encode, reportDone: false);
        var (imageEmbeddings, imageLatents) = EncodeImage(_options.Width, _options.Height, memory.Encode, reportDone: true);
        _engine.Models.Enter(RequestStage.Denoise, memory.Residency);
        Tensor lowLatents;
        using (Ops.Memory.BeginScope())
        {
            _clock.Enter(GenerationStage.Denoising, _totalSteps);
            var initial = Latents.Initial(_options.InitialNoise, _generator, Frames, LatentH(from.Height), LatentW(from.Width), LatentChannels);
            lowLatents = Ops.ToHost(Denoise(low, _sampler!, promptEmbeds, lowEmbeddings, lowImage, ScaleInitial(initial, _sampler!), 0));
        }

        int h = LatentH(_options.Height), w = LatentW(_options.Width);
        var upscaled = LatentResize.Bilinear(lowLatents, h, w);
        var sampler = _engine.CreateSampler(_options.Sampler, _options.Steps);
        sampler.BeginAt(_options.Steps - tail);
        var noise = Latents.Initial(null, _generator, Frames, h, w, LatentChannels);
        var (a, b) = sampler.NoiseWeights();
        var start = LatentResize.AddNoise(upscaled, a, noise, b);
        _engine.Log?.Invoke($"refine: {_options.Steps} steps at {from}, then the last {tail} at {_options.Width}x{_options.Height} from timestep {sampler.Timesteps[0]} (strength {_options.RefineStrength})");
        using (Ops.Memory.BeginScope())
        {
            return Ops.ToHost(Denoise(memory, sampler, promptEmbeds, imageEmbeddings, imageLatents, start, _options.Steps));
        }
    }

    private int LatentH(int height) => height / _engine.VaeScaleFactor;

    private int LatentW(int width) => width / _engine.VaeScaleFactor;

    private static Tensor ScaleInitial(Tensor initial, Sampler sampler) => sampler.InitNoiseSigma != 1f ? initial.Scaled(sampler.InitNoiseSigma) : initial;

    /// <summary>1. Prompt embeddings: [negative ; positive] with guidance, (B2, tokens, D).</summary>
    private Tensor EncodePrompt()
    {
        _clock.Enter(GenerationStage.EncodingPrompt, 1);
        var positive = _engine.Prompts.Encode(_options.Prompt);
        var embeds = _options.UsesGuidance ? HostTensorMath.ConcatFirstAxis([_engine.Prompts.Encode(_options.NegativePrompt ?? ""), positive]) : positive;
        _observer?.Tensor("prompt_embeds", embeds);
        _clock.Leave(reportDone: true);
        return embeds;
    }

    /// <summary>
    /// Plans the UNet step and the VAE decode (shapes only) under the cheapest memory choices that fit the budget (the
    /// device's free memory when none is given), and refuses the request when even the smallest do not, saying what
    /// would fit: before the image encoders or any step run.
    /// </summary>
    private MemoryPlan PlanMemory(int textTokens, GenerationOptions options)
    {
        var plan = _engine.PlanRequest(options, textTokens);
        _engine.Log?.Invoke($"memory plan: {plan.Describe()}; {ArenaPlan.FormatBytes(Ops.Memory.AvailableBytes)} available in {Ops.Memory.Description}");
        return plan;
    }

    /// <summary>One log line before a run that the plan's FLOPs, at the backend's assumed rate, put above a few minutes.</summary>
    private void WarnWhenLong(RequestPlan memory, RequestPlan? low, int tail)
    {
        var chunks = (Frames + memory.DecodeChunk - 1) / memory.DecodeChunk;
        var unet = low is null ? memory.Step.FlopsOf(_caching, _options.Steps) : low.Step.FlopsOf(_caching, _options.Steps) + memory.Step.FlopsOf(_caching, tail);
        var estimate = RunEstimate.Of(Ops, unet, VaeOps, chunks * memory.Decode.Flops);
        if (estimate is { } e && e.Time >= RunEstimate.WarnAbove)
        {
            _engine.Log?.Invoke(
                $"this request is estimated at about {RunEstimate.Format(e.Time)} on the {Ops.Name} backend ({e.Describe()}); "
                + "a GPU, or a smaller size, fewer frames or fewer steps, would be much faster.");
        }
    }

    /// <summary>
    /// 2. The image, on the arenas of <paramref name="plan"/>: the CLIP embedding ([zeros ; embeds], (B2, 1, D)) and the
    /// image latents of every frame (B2*F, h, w, L).
    /// </summary>
    private (Tensor Embeddings, Tensor Latents) EncodeImage(int width, int height, EncodePlan plan, bool reportDone)
    {
        _clock.Enter(GenerationStage.EncodingImage, 2);
        var clipPixels = ImagePreprocessor.ClipPixels(_image, width, _engine.Features);
        _observer?.Tensor("clip.pixels", clipPixels);
        var (imageEncoder, vaeEncoder) = _engine.Encoders.Get();
        var imageEmbeds = PlannedImageEncode.ImageEmbeds(Ops, plan, imageEncoder, clipPixels);                        // (1, D)

        _observer?.Tensor("image_embeds", imageEmbeds);
        var embedDim = imageEmbeds.Shape[1];
        var embeddings = imageEmbeds.Reshape(1, 1, embedDim);
        if (_options.UsesGuidance)
        {
            embeddings = HostTensorMath.ConcatFirstAxis([Tensor.Zeros(DType.F32, new TensorShape(1, 1, embedDim)), embeddings]);
        }

        _observer?.Tensor("image_embeddings", embeddings);
        _cancellation.ThrowIfCancellationRequested();

        var vaePixels = ImagePreprocessor.VaePixels(_image, width, height);
        _observer?.Tensor("vae.pixels", vaePixels);
        var moments = PlannedImageEncode.Moments(VaeOps, plan, vaeEncoder, vaePixels);                               // (1, h, w, 2L)

        _observer?.Tensor("vae.moments", moments.Permute(0, 3, 1, 2).Contiguous());
        var distribution = LatentDistribution.FromMoments(moments);
        var latent = _options.VaeEncode == VaeEncodeMode.Mean
            ? distribution.Mean
            : distribution.Sample(_generator.StandardNormal(distribution.Mean.Shape).AsSpan<float>());
        var latents = Latents.FramePositions(latent.Scaled((float)VaeConfig.ScalingFactor), Frames, _batch);      // (B2*F, h, w, L)
        _observer?.Tensor("image_latents", Latents.ToNcfhw(latents, Frames));
        _clock.Leave(reportDone);
        return (embeddings, latents);
    }

    /// <summary>
    /// 3. The denoising loop of one pass (<paramref name="offset"/>: the steps of earlier passes). The sampler's latents
    /// stay F32 on the backend and are updated there, fused with the guidance (<see cref="IOps.DdimStep"/> for DDIM,
    /// <see cref="IOps.SamplerPredict"/> and <see cref="IOps.SamplerCombine"/> for the others), which also writes the next
    /// (scaled) UNet input; nothing returns to the host per step but the non-finite counts, read one step late. The
    /// conditioning and every step's embedding are computed first, and the sampler's history is allocated once in the
    /// request's scope (planned with its memory). Under step caching the full and the cached steps are two planned
    /// forwards (two graphs, their arenas in one block) sharing the deep-feature cache. Returns the final latents (F, h, w, L) as an F32
    /// backend tensor.
    /// </summary>
    private Tensor Denoise(RequestPlan memory, Sampler sampler, Tensor promptEmbeds, Tensor imageEmbeddings, Tensor imageLatents, Tensor initial, int offset)
    {
        var unet = _engine.UNet.Get();
        int h = initial.Shape[1], w = initial.Shape[2];
        var fps = Enumerable.Repeat((float)_options.Fps, _batch).ToArray();
        UNetConditioning conditioning;
        using (var computing = Ops.Memory.BeginScope())
        {
            // Only the conditioning's own tensors outlive its computation (as planned: UNetStepPlan.ConditioningBytes).
            conditioning = unet.Condition(Ops.FromHost(imageLatents), Ops.FromHost(imageEmbeddings), Ops.FromHost(promptEmbeds), fps, Frames);
            foreach (var kept in PlannedUNetStep.ConditioningTensors(conditioning).DistinctBy(t => t.Storage, ReferenceEqualityComparer.Instance))
            {
                computing.Keep(kept);
            }
        }

        var stepEmbeddings = sampler.Timesteps.Select(t => unet.StepEmbedding(t, conditioning)).ToList();

        // Under step caching the two kinds share one block, the larger's (they never run at once, and each step's
        // output is read before the next step runs).
        var cachedPlan = memory.Step.Cached;
        var fullFirst = cachedPlan is null || memory.Step.Arena.Peak >= cachedPlan.Arena.Peak;
        using var first = PlannedUNetStep.Create(Ops, fullFirst ? memory.Step : cachedPlan!, _engine.UseGraphs);
        using var second = cachedPlan is null ? null : PlannedUNetStep.Create(Ops, fullFirst ? cachedPlan : memory.Step, _engine.UseGraphs, over: first);
        var (step, cachedStep) = fullFirst ? (first, second) : (second!, first);
        if (step.UsesGraph && offset == 0)
        {
            _engine.Log?.Invoke(cachedStep is null ? "the UNet step is replayed as a graph from its second call" : "the full and the cached UNet steps are each replayed as a graph from their second call");
        }

        if (offset == 0)
        {
            _observer?.Tensor("latents.initial", Latents.ToNcfhw(initial, Frames));
        }

        var latents = Ops.FromHost(initial, DType.F32);
        var run = sampler.Start(Ops, latents.Shape, _options.Eta);
        var input = Ops.FromHost(_options.UsesGuidance ? HostTensorMath.ConcatFirstAxis([initial, initial]) : initial); // (B2*F, h, w, L)
        if (sampler.InputScale(0) != 1f)
        {
            run.WriteInput(latents, input);
        }

        var deepFeature = cachedStep is null ? null : Ops.Empty(Ops.ActivationDType, unet.DeepFeatureShape(input.Shape, memory.Step.Kind!.Depth));
        var watch = new NonFiniteWatch(Ops, [.. sampler.Timesteps], "the UNet's output", $"the latents after the {sampler.ClassName} update");
        var guidance = _options.UsesGuidance ? (float)_options.Guidance : (float?)null;
        for (var i = 0; i < sampler.NumInferenceSteps; i++)
        {
            _cancellation.ThrowIfCancellationRequested();
            var t = sampler.Timesteps[i];
            var full = _caching?.IsFull(i) != false;
            var planned = full ? step : cachedStep!;
            _clock.CountOps(memory.Step.Runs * planned.Planned.Forward.Ops);
            using (Ops.Memory.BeginScope())
            {
                var output = planned.Forward(unet, input, stepEmbeddings[i], conditioning, deepFeature);
                _observer?.UNetStep(offset + i, t, Latents.ToNcfhw(Ops.ToHost(input), Frames), Latents.ToNcfhw(Ops.ToHost(output), Frames));
                watch.Count(i, 0, output);
                var noise = run.NeedsNoise ? Ops.FromHost(Latents.VarianceNoise(_generator, Frames, h, w, LatentChannels), DType.F32) : null;
                run.Step(output, latents, guidance, input, noise);
                watch.Count(i, 1, latents);
                watch.EndStep(i);
            }

            if (full)
            {
                _fullSteps.Add(offset + i);
            }

            _clock.Report(offset + i + 1, full);
            PreviewLatents(latents, sampler, i + 1, offset + i + 1);
        }

        watch.Finish();
        return latents;
    }

    /// <summary>
    /// After <paramref name="done"/> steps of the request (<paramref name="steps"/> of this pass's sampler), every
    /// <see cref="IGenerationPreview.PreviewEvery"/>: the latents' cheap preview.
    /// </summary>
    private void PreviewLatents(Tensor latents, Sampler sampler, int steps, int done)
    {
        if (_options.Preview is not { PreviewEvery: > 0 } preview || done % preview.PreviewEvery != 0)
        {
            return;
        }

        // At the next step's noise level the UNet input scale brings the latents to unit variance (1 but for Euler).
        var scale = steps < sampler.NumInferenceSteps ? sampler.InputScale(steps) : 1f;
        preview.Denoised(done, _totalSteps, LatentPreview.ToImages(Ops.ToHost(latents).To(DType.F32), scale));
    }

    /// <summary>
    /// 4. Decodes frames in chunks: latents * float32(1 / scaling_factor), then [-1, 1] to [0, 1]: (F, H, W, 3), and the
    /// 8-bit frames, each chunk's given to the preview as it is done (both conversions are per value, so converting chunk
    /// by chunk gives the same bytes as the whole video at once).
    /// </summary>
    private (Tensor Video, IReadOnlyList<RgbImage> Frames) Decode(RequestPlan memory, Tensor latents)
    {
        _clock.Enter(GenerationStage.Decoding, Frames);
        var unscaled = latents.Scaled((float)(1.0 / VaeConfig.ScalingFactor));
        _clock.CountOps(memory.Decode.Ops);
        var frames = new List<RgbImage>(Frames);
        var chunks = new List<Tensor>();
        VideoDecoding.Decode(_engine.Decoder.Get(), _engine.Models.VaeShapes, memory, unscaled, done => _clock.Report(done), FramesDecoded, _cancellation);
        var video = chunks.Count == 1 ? chunks[0] : HostTensorMath.ConcatFirstAxis(chunks);
        _observer?.Tensor("video", video.Reshape(1, Frames, _options.Height, _options.Width, 3));
        _clock.Leave(reportDone: false);
        return (video, frames);

        void FramesDecoded(int start, Tensor chunk)
        {
            // Denormalising is per element, so chunk by chunk gives the bytes the whole video would: each chunk once.
            var denormalized = VideoFrames.Denormalize(chunk);
            chunks.Add(denormalized);
            var images = VideoFrames.ToImages(denormalized);
            frames.AddRange(images);
            _options.Preview?.FramesDecoded(start, images);
        }
    }
}
