using CudaI2V.Kernels;
using CudaI2V.Layers.Vae;
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
    private readonly int _latentH;
    private readonly int _latentW;
    private Sampler? _sampler;

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
        _latentH = options.Height / engine.VaeScaleFactor;
        _latentW = options.Width / engine.VaeScaleFactor;
    }

    private IOps Ops => _engine.Ops;

    private AutoencoderKL Vae => _engine.Vae;

    private int Frames => _options.Frames;

    private int LatentChannels => Vae.Config.LatentChannels;

    /// <summary>Runs every stage and returns the video.</summary>
    public GenerationResult Run()
    {
        _sampler = _engine.CreateSampler(_options.Sampler, _options.Steps);
        _engine.Log?.Invoke($"sampler: {string.Join(", ", _sampler.Settings().Select(p => $"{p.Name} {p.Value}"))}");
        // The CPU checks the token between ops and inside long ones, so a cancelled step ends within a fraction of a second.
        var watch = new OpWatch(_cancellation, _clock.OpStarted);
        using var watchUNet = Ops.Watch(watch);
        using var watchVae = ReferenceEquals(Vae.Ops, Ops) ? null : Vae.Ops.Watch(watch);
        var promptEmbeds = EncodePrompt();
        var memory = PlanMemory(promptEmbeds.Shape[1]);
        WarnWhenLong(memory.Request);
        var (imageEmbeddings, imageLatents) = EncodeImage();
        if (memory.Request.ReleaseEncoders)
        {
            // The plan counted the loop without them: free their weights now (the next request that needs them loads them again).
            _engine.Encoders.Release();
        }

        var latents = Denoise(memory.Request, promptEmbeds, imageEmbeddings, imageLatents);
        var (video, frames) = Decode(memory.Request, latents);
        return new GenerationResult(frames, video, _seed, _clock.Times) { Memory = memory };
    }

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
    private MemoryPlan PlanMemory(int textTokens)
    {
        var plan = _engine.PlanRequest(_options with { Frames = Frames }, textTokens);
        _engine.Log?.Invoke($"memory plan: {plan.Describe()}; {ArenaPlan.FormatBytes(Ops.Memory.AvailableBytes)} available in {Ops.Memory.Description}");
        return plan;
    }

    /// <summary>One log line before a run that the plan's FLOPs, at the backend's assumed rate, put above a few minutes.</summary>
    private void WarnWhenLong(RequestPlan memory)
    {
        var chunks = (Frames + memory.DecodeChunk - 1) / memory.DecodeChunk;
        var estimate = RunEstimate.Of(Ops, _options.Steps * memory.Step.Runs * memory.Step.Flops, Vae.Ops, chunks * memory.Decode.Flops);
        if (estimate is { } e && e.Time >= RunEstimate.WarnAbove)
        {
            _engine.Log?.Invoke(
                $"this request is estimated at about {RunEstimate.Format(e.Time)} on the {Ops.Name} backend ({e.Describe()}); "
                + "a GPU, or a smaller size, fewer frames or fewer steps, would be much faster.");
        }
    }

    /// <summary>2. The image: the CLIP embedding ([zeros ; embeds], (B2, 1, D)) and the image latents of every frame (B2*F, h, w, L).</summary>
    private (Tensor Embeddings, Tensor Latents) EncodeImage()
    {
        _clock.Enter(GenerationStage.EncodingImage, 2);
        var clipPixels = ImagePreprocessor.ClipPixels(_image, _options.Width, _engine.Features);
        _observer?.Tensor("clip.pixels", clipPixels);
        var (imageEncoder, vaeEncoder) = _engine.Encoders.Get();
        Tensor imageEmbeds;                                                                                          // (1, D)
        using (Ops.Memory.BeginScope())
        {
            imageEmbeds = Ops.ToHost(imageEncoder.Forward(Ops.NchwToNhwc(Ops.FromHost(clipPixels))).ImageEmbeds);
        }

        _observer?.Tensor("image_embeds", imageEmbeds);
        var embedDim = imageEmbeds.Shape[1];
        var embeddings = imageEmbeds.Reshape(1, 1, embedDim);
        if (_options.UsesGuidance)
        {
            embeddings = HostTensorMath.ConcatFirstAxis([Tensor.Zeros(DType.F32, new TensorShape(1, 1, embedDim)), embeddings]);
        }

        _observer?.Tensor("image_embeddings", embeddings);
        _cancellation.ThrowIfCancellationRequested();

        var vaePixels = ImagePreprocessor.VaePixels(_image, _options.Width, _options.Height);
        _observer?.Tensor("vae.pixels", vaePixels);
        var vaeOps = Vae.Ops;
        Tensor moments;                                                                                              // (1, h, w, 2L)
        using (vaeOps.Memory.BeginScope())
        {
            moments = vaeOps.ToHost(vaeEncoder.Encode(vaeOps.NchwToNhwc(vaeOps.FromHost(vaePixels))));
        }

        _observer?.Tensor("vae.moments", moments.Permute(0, 3, 1, 2).Contiguous());
        var distribution = LatentDistribution.FromMoments(moments);
        var latent = _options.VaeEncode == VaeEncodeMode.Mean
            ? distribution.Mean
            : distribution.Sample(_generator.StandardNormal(distribution.Mean.Shape).AsSpan<float>());
        var latents = Latents.FramePositions(latent.Scaled((float)Vae.Config.ScalingFactor), Frames, _batch);      // (B2*F, h, w, L)
        _observer?.Tensor("image_latents", Latents.ToNcfhw(latents, Frames));
        _clock.Leave(reportDone: true);
        return (embeddings, latents);
    }

    /// <summary>
    /// 3. The denoising loop. The sampler's latents stay F32 on the backend and are updated there, fused with the
    /// guidance (<see cref="IOps.DdimStep"/> for DDIM, <see cref="IOps.SamplerPredict"/> and
    /// <see cref="IOps.SamplerCombine"/> for the others), which also writes the next (scaled) UNet input; nothing returns
    /// to the host per step but the non-finite counts, read one step late. The conditioning and every step's embedding
    /// are computed first, and the sampler's history is allocated once in the request's scope (planned with its memory).
    /// Returns the final latents (F, h, w, L) as an F32 backend tensor.
    /// </summary>
    private Tensor Denoise(RequestPlan memory, Tensor promptEmbeds, Tensor imageEmbeddings, Tensor imageLatents)
    {
        var sampler = _sampler!;
        _clock.Enter(GenerationStage.Denoising, sampler.NumInferenceSteps);
        var unet = _engine.UNet;
        var fps = Enumerable.Repeat((float)_options.Fps, _batch).ToArray();
        var conditioning = unet.Condition(Ops.FromHost(imageLatents), Ops.FromHost(imageEmbeddings), Ops.FromHost(promptEmbeds), fps, Frames);
        var stepEmbeddings = sampler.Timesteps.Select(t => unet.StepEmbedding(t, conditioning)).ToList();

        using var step = PlannedUNetStep.Create(Ops, memory.Step, _engine.UseGraphs);
        if (step.UsesGraph)
        {
            _engine.Log?.Invoke("the UNet step is replayed as a graph from its second call");
        }

        var initial = Latents.Initial(_options.InitialNoise, _generator, Frames, _latentH, _latentW, LatentChannels);  // (F, h, w, L)
        if (sampler.InitNoiseSigma != 1f)
        {
            initial = initial.Scaled(sampler.InitNoiseSigma);
        }

        _observer?.Tensor("latents.initial", Latents.ToNcfhw(initial, Frames));
        var latents = Ops.FromHost(initial, DType.F32);
        var run = sampler.Start(Ops, latents.Shape, _options.Eta);
        var input = Ops.FromHost(_options.UsesGuidance ? HostTensorMath.ConcatFirstAxis([initial, initial]) : initial); // (B2*F, h, w, L)
        if (sampler.InputScale(0) != 1f)
        {
            run.WriteInput(latents, input);
        }

        var watch = new NonFiniteWatch(Ops, [.. sampler.Timesteps], "the UNet's output", $"the latents after the {sampler.ClassName} update");
        _clock.CountOps(memory.Step.Runs * memory.Step.Forward.Ops);
        var guidance = _options.UsesGuidance ? (float)_options.Guidance : (float?)null;
        for (var i = 0; i < sampler.NumInferenceSteps; i++)
        {
            _cancellation.ThrowIfCancellationRequested();
            var t = sampler.Timesteps[i];
            using (Ops.Memory.BeginScope())
            {
                var output = step.Forward(unet, input, stepEmbeddings[i], conditioning);
                _observer?.UNetStep(i, t, Latents.ToNcfhw(Ops.ToHost(input), Frames), Latents.ToNcfhw(Ops.ToHost(output), Frames));
                watch.Count(i, 0, output);
                var noise = run.NeedsNoise ? Ops.FromHost(Latents.VarianceNoise(_generator, Frames, _latentH, _latentW, LatentChannels), DType.F32) : null;
                run.Step(output, latents, guidance, input, noise);
                watch.Count(i, 1, latents);
                watch.EndStep(i);
            }

            _clock.Report(i + 1);
            PreviewLatents(latents, sampler, i + 1);
        }

        watch.Finish();
        _clock.Leave(reportDone: false);
        return latents;
    }

    /// <summary>After <paramref name="steps"/> steps, every <see cref="IGenerationPreview.PreviewEvery"/>: the latents' cheap preview.</summary>
    private void PreviewLatents(Tensor latents, Sampler sampler, int steps)
    {
        if (_options.Preview is not { PreviewEvery: > 0 } preview || steps % preview.PreviewEvery != 0)
        {
            return;
        }

        // At the next step's noise level the UNet input scale brings the latents to unit variance (1 but for Euler).
        var scale = steps < sampler.NumInferenceSteps ? sampler.InputScale(steps) : 1f;
        preview.Denoised(steps, sampler.NumInferenceSteps, LatentPreview.ToImages(Ops.ToHost(latents).To(DType.F32), scale));
    }

    /// <summary>
    /// 4. Decodes frames in chunks: latents * float32(1 / scaling_factor), then [-1, 1] to [0, 1]: (F, H, W, 3), and the
    /// 8-bit frames, each chunk's given to the preview as it is done (both conversions are per value, so converting chunk
    /// by chunk gives the same bytes as the whole video at once).
    /// </summary>
    private (Tensor Video, IReadOnlyList<RgbImage> Frames) Decode(RequestPlan memory, Tensor latents)
    {
        _clock.Enter(GenerationStage.Decoding, Frames);
        var unscaled = Ops.ToHost(latents).Scaled((float)(1.0 / Vae.Config.ScalingFactor));
        _clock.CountOps(memory.Decode.Ops);
        var frames = new List<RgbImage>(Frames);
        var decoded = VideoDecoding.Decode(Vae, _engine.VaeShapes, memory, unscaled, _clock.Report, FramesDecoded, _cancellation);
        var video = VideoFrames.Denormalize(decoded);
        _observer?.Tensor("video", video.Reshape(1, Frames, _options.Height, _options.Width, 3));
        _clock.Leave(reportDone: false);
        return (video, frames);

        void FramesDecoded(int start, Tensor chunk)
        {
            // Denormalising is per element, so a chunk's images are the bytes the whole video's would be.
            var images = VideoFrames.ToImages(VideoFrames.Denormalize(chunk));
            frames.AddRange(images);
            _options.Preview?.FramesDecoded(start, images);
        }
    }
}
