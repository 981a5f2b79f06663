using System.Diagnostics;
using CudaI2V.Kernels;
using CudaI2V.Kernels.Cuda;
using CudaI2V.Layers.Clip;
using CudaI2V.Layers.UNet;
using CudaI2V.Layers.Vae;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Pipeline.Noise;
using CudaI2V.Pipeline.Output;
using CudaI2V.Pipeline.Scheduling;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Engine;

/// <summary>A generation produced NaN or infinite values; the message says at which step and where.</summary>
public sealed class NonFiniteValuesException : Exception
{
    /// <summary>Creates the exception.</summary>
    public NonFiniteValuesException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public NonFiniteValuesException()
        : this("The generation produced non-finite values.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public NonFiniteValuesException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// The image-to-video engine an application embeds: load the models once, then generate many videos. It runs
/// diffusers' I2VGen-XL pipeline step by step (shared/docs/i2vgenxl-spec.md section 2): prompt embeddings
/// (negative first), the CLIP image embedding (zeros for the negative half), the VAE latent of the image and the
/// frame-position ramp of the other frames, fps conditioning, DDIM with classifier-free guidance as one batch,
/// then the VAE decoder in chunks of frames. Everything that does not change between steps is computed once
/// per request. One request at a time per engine: a second concurrent call throws; use one engine per
/// concurrent stream of requests.
/// </summary>
public sealed class VideoEngine : IDisposable
{
    private readonly IOps _ops;
    private readonly IPromptEncoder _prompts;
    private readonly ClipVisionModelWithProjection _imageEncoder;
    private readonly AutoencoderKL _vae;
    private readonly I2VGenXLUNet _unet;
    private readonly FeatureExtractorConfig _features;
    private readonly SchedulerConfig _scheduler;
    private readonly IDisposable? _owned;
    private readonly IReadOnlyList<WeightManifestEntry>? _unetShapes;
    private readonly IReadOnlyList<WeightManifestEntry>? _vaeShapes;
    private int _busy;

    /// <summary>
    /// Assembles an engine from loaded parts; <paramref name="owned"/> is disposed with it (weights, sessions).
    /// On the GPU, <paramref name="unetShapes"/> and <paramref name="vaeShapes"/> (the weight layouts) let each
    /// request plan its UNet step and its VAE decode on arenas, checked against free memory before any work, instead
    /// of allocating every tensor.
    /// </summary>
    public VideoEngine(
        IOps ops, IPromptEncoder prompts, ClipVisionModelWithProjection imageEncoder, AutoencoderKL vae, I2VGenXLUNet unet,
        FeatureExtractorConfig features, SchedulerConfig scheduler, IDisposable? owned = null, IReadOnlyList<WeightManifestEntry>? unetShapes = null,
        IReadOnlyList<WeightManifestEntry>? vaeShapes = null)
    {
        _ops = ops ?? throw new ArgumentNullException(nameof(ops));
        _prompts = prompts ?? throw new ArgumentNullException(nameof(prompts));
        _imageEncoder = imageEncoder ?? throw new ArgumentNullException(nameof(imageEncoder));
        _vae = vae ?? throw new ArgumentNullException(nameof(vae));
        _unet = unet ?? throw new ArgumentNullException(nameof(unet));
        _features = features ?? throw new ArgumentNullException(nameof(features));
        _scheduler = scheduler ?? throw new ArgumentNullException(nameof(scheduler));
        _owned = owned;
        _unetShapes = unetShapes;
        _vaeShapes = vaeShapes;
    }

    /// <summary>Receives one-line notes (the planned memory of the UNet step on the GPU).</summary>
    public Action<string>? Log { get; set; }

    /// <summary>
    /// On the GPU, capture each request's UNet step as a CUDA graph and replay it (the same video, fewer launches): on
    /// by default since an H200 run (2026-11-26) gave the same video bit for bit and a step 5 ms (512x512) to 16 ms
    /// (704x1280) faster than direct launches (docs/performance.md).
    /// </summary>
    public bool UseCudaGraphs { get; set; } = true;

    /// <summary>The backend the models run on.</summary>
    public IOps Ops => _ops;

    /// <summary>Every backend the engine runs on: <see cref="Ops"/>, and the VAE's when it has its own (an fp32 VAE).</summary>
    public IReadOnlyList<IOps> Backends => ReferenceEquals(_vae.Ops, _ops) ? [_ops] : [_ops, _vae.Ops];

    /// <summary>Image size / latent size of the VAE.</summary>
    public int VaeScaleFactor => _vae.ScaleFactor;

    /// <summary>
    /// Generates a video from <paramref name="image"/> and the prompt of <paramref name="options"/>. Progress is
    /// reported per stage and per step; cancellation is checked between steps and frames.
    /// </summary>
    public GenerationResult Generate(
        RgbImage image, GenerationOptions options, IProgress<GenerationProgress>? progress = null,
        IGenerationObserver? observer = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options.Height % VaeScaleFactor != 0 || options.Width % VaeScaleFactor != 0)
        {
            throw new ArgumentException($"Height and width must be multiples of the VAE's scale factor {VaeScaleFactor}.", nameof(options));
        }

        if (Interlocked.Exchange(ref _busy, 1) == 1)
        {
            throw new InvalidOperationException("This engine is already generating; it runs one request at a time. Wait for it, or use a second engine.");
        }

        try
        {
            // On the GPU, everything a request allocates is freed when it ends (on the VAE's backend too, when it has its own).
            using var request = (_ops as CudaOps)?.BeginScope();
            using var vaeRequest = (ReferenceEquals(_vae.Ops, _ops) ? null : _vae.Ops as CudaOps)?.BeginScope();
            return Run(image, options, progress, observer, cancellation);
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    private GenerationResult Run(RgbImage image, GenerationOptions options, IProgress<GenerationProgress>? progress, IGenerationObserver? observer, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        var times = new Dictionary<GenerationStage, TimeSpan>();
        var stage = Stopwatch.StartNew();
        var stageTotal = 0;
        void Enter(GenerationStage s, int total)
        {
            cancellation.ThrowIfCancellationRequested();
            stage.Restart();
            stageTotal = total;
            progress?.Report(new GenerationProgress(s, 0, total, clock.Elapsed));
        }

        void Leave(GenerationStage s)
        {
            times[s] = stage.Elapsed;
            if (s is GenerationStage.EncodingPrompt or GenerationStage.EncodingImage)
            {
                progress?.Report(new GenerationProgress(s, stageTotal, stageTotal, clock.Elapsed));
            }
        }

        var seed = options.Seed ?? (ulong)Random.Shared.NextInt64();
        var generator = new SeededRandom(seed);
        var guidance = options.UsesGuidance;
        int frames = options.Frames, latentH = options.Height / VaeScaleFactor, latentW = options.Width / VaeScaleFactor;
        var latentC = _vae.Config.LatentChannels;
        var batch = guidance ? 2 : 1;

        // 1. Prompt embeddings: [negative ; positive].
        Enter(GenerationStage.EncodingPrompt, 1);
        var positive = _prompts.Encode(options.Prompt);
        var promptEmbeds = guidance ? Concat0(_prompts.Encode(options.NegativePrompt ?? ""), positive) : positive;
        observer?.Tensor("prompt_embeds", promptEmbeds);
        Leave(GenerationStage.EncodingPrompt);

        // On the GPU, plan the denoising and decoding memory now: a request that cannot finish is refused before any GPU work.
        var memory = PlanRequest(options, batch, promptEmbeds.Shape[1]);

        // 2. The image: CLIP embedding ([zeros ; embeds]) and the VAE latent of the first frame.
        Enter(GenerationStage.EncodingImage, 2);
        var clipPixels = ImagePreprocessor.ClipPixels(image, options.Width, _features);
        observer?.Tensor("clip.pixels", clipPixels);
        Tensor imageEmbeds;                                                                                          // (1, D)
        using (var encodeScope = (_ops as CudaOps)?.BeginScope())
        {
            imageEmbeds = _ops.ToHost(_imageEncoder.Forward(_ops.NchwToNhwc(_ops.FromHost(clipPixels))).ImageEmbeds);
        }

        observer?.Tensor("image_embeds", imageEmbeds);
        var embedDim = imageEmbeds.Shape[1];
        var imageEmbeddings = imageEmbeds.Reshape(1, 1, embedDim);
        if (guidance)
        {
            imageEmbeddings = Concat0(Tensor.Zeros(DType.F32, new TensorShape(1, 1, embedDim)), imageEmbeddings);
        }

        observer?.Tensor("image_embeddings", imageEmbeddings);

        cancellation.ThrowIfCancellationRequested();
        var vaePixels = ImagePreprocessor.VaePixels(image, options.Width, options.Height);
        observer?.Tensor("vae.pixels", vaePixels);
        var vaeOps = _vae.Ops;
        Tensor moments;                                                                                              // (1, h, w, 2L)
        using (var encodeScope = (vaeOps as CudaOps)?.BeginScope())
        {
            moments = vaeOps.ToHost(_vae.Encode(vaeOps.NchwToNhwc(vaeOps.FromHost(vaePixels))));
        }

        observer?.Tensor("vae.moments", moments.Permute(0, 3, 1, 2).Contiguous());
        var distribution = LatentDistribution.FromMoments(moments);
        var latent = options.VaeEncode == VaeEncodeMode.Mean
            ? distribution.Mean
            : distribution.Sample(generator.StandardNormal(distribution.Mean.Shape).AsSpan<float>());
        var imageLatents = FramePositionLatents(Scale(latent, (float)_vae.Config.ScalingFactor), frames, batch); // (B2*F, h, w, L)
        observer?.Tensor("image_latents", ToNcfhw(imageLatents, frames));
        Leave(GenerationStage.EncodingImage);

        // 3. The denoising loop. The scheduler's latents stay F32 on the backend and are updated there, fused with
        // the guidance (IOps.DdimStep), which also writes the next UNet input; nothing returns to the host per step
        // but the non-finite counts. The conditioning and the step embedding of every timestep are computed first.
        Enter(GenerationStage.Denoising, options.Steps);
        var scheduler = new DDIMScheduler(_scheduler);
        scheduler.SetTimesteps(options.Steps);
        var fps = Enumerable.Repeat((float)options.Fps, batch).ToArray();
        var conditioning = _unet.Condition(_ops.FromHost(imageLatents), _ops.FromHost(imageEmbeddings), _ops.FromHost(promptEmbeds), fps, frames);
        var stepEmbeddings = scheduler.Timesteps.Select(t => _unet.StepEmbedding(t, conditioning)).ToList();
        var (planned, decoder) = TakeArenas(memory, latentH, latentW);
        using var plannedStep = planned;
        using var plannedDecode = decoder;

        var initial = InitialLatents(options, generator, frames, latentH, latentW, latentC);                   // (F, h, w, L)
        observer?.Tensor("latents.initial", ToNcfhw(initial, frames));
        var latents = _ops.FromHost(initial, DType.F32);
        var input = _ops.FromHost(guidance ? Concat0(initial, initial) : initial);                              // (B2*F, h, w, L)
        for (var i = 0; i < scheduler.Timesteps.Count; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            var t = scheduler.Timesteps[i];
            using (var stepScope = (_ops as CudaOps)?.BeginScope())
            {
                var output = planned?.Forward(_unet, input, stepEmbeddings[i], conditioning) ?? _unet.Forward(input, stepEmbeddings[i], conditioning);
                if (observer is not null)
                {
                    observer.UNetStep(i, t, ToNcfhw(_ops.ToHost(input), frames), ToNcfhw(_ops.ToHost(output), frames));
                }

                CheckFinite(output, i, t, "the UNet's output");
                var noise = options.Eta > 0 ? _ops.FromHost(VarianceNoise(generator, frames, latentH, latentW, latentC), DType.F32) : null;
                _ops.DdimStep(output, latents, scheduler.StepSettings(t, options.Eta, guidance ? (float)options.Guidance : null), noise, input);
                CheckFinite(latents, i, t, "the latents after the DDIM update");
            }

            progress?.Report(new GenerationProgress(GenerationStage.Denoising, i + 1, options.Steps, clock.Elapsed));
        }

        Leave(GenerationStage.Denoising);

        // 4. Decode frames in chunks: latents * float32(1 / scaling_factor), then [-1, 1] to [0, 1].
        Enter(GenerationStage.Decoding, frames);
        var unscaled = Scale(_ops.ToHost(latents), (float)(1.0 / _vae.Config.ScalingFactor));
        var decoded = new List<Tensor>();
        for (var start = 0; start < frames; start += options.DecodeChunk)
        {
            cancellation.ThrowIfCancellationRequested();
            var count = Math.Min(options.DecodeChunk, frames - start);
            var chunk = unscaled.Slice(0, start, count);
            if (decoder is not null)
            {
                decoded.Add(decoder.Decode(_vae, chunk));
            }
            else
            {
                using var chunkScope = (vaeOps as CudaOps)?.BeginScope();
                decoded.Add(vaeOps.ToHost(_vae.Decode(vaeOps.FromHost(chunk))));
            }

            progress?.Report(new GenerationProgress(GenerationStage.Decoding, start + count, frames, clock.Elapsed));
        }

        var video = VideoFrames.Denormalize(decoded.Count == 1 ? decoded[0] : ConcatHost(decoded));             // (F, H, W, 3)
        observer?.Tensor("video", video.Reshape(1, frames, options.Height, options.Width, 3));
        Leave(GenerationStage.Decoding);
        return new GenerationResult(VideoFrames.ToImages(video), video, seed, times);
    }

    /// <summary>
    /// On the GPU, plans the request's UNet step and VAE decode (shapes only), reports what they need, and refuses the
    /// request when the device's free memory cannot hold both, saying what would fit. Elsewhere (the CPU, or an engine
    /// built without weight layouts) there is nothing to plan.
    /// </summary>
    private RequestPlan? PlanRequest(GenerationOptions options, int batch, int textTokens)
    {
        if (_ops is not CudaOps cuda || _unetShapes is null)
        {
            return null;
        }

        var vaeDType = _vaeShapes is not null && _vae.Ops is CudaOps vaeCuda ? vaeCuda.ActivationDType : (DType?)null;
        var models = new RequestModels(cuda.ActivationDType, _unet.Config, _unetShapes, vaeDType, _vae.Config, _vaeShapes);
        var free = cuda.Context.MemoryInfo().Free;
        var plan = RequestMemory.PlanWithin(models, free, batch, options.Frames, options.Height, options.Width, textTokens, options.DecodeChunk);
        Log?.Invoke($"device memory for this request: {plan.Describe()}; {ArenaPlan.FormatBytes(free)} free");
        return plan;
    }

    /// <summary>Takes the arenas of a request planned by <see cref="PlanRequest"/>.</summary>
    private (PlannedUNetStep? Step, PlannedVaeDecode? Decoder) TakeArenas(RequestPlan? plan, int latentH, int latentW)
    {
        if (plan is null)
        {
            return (null, null);
        }

        var step = PlannedUNetStep.Create((CudaOps)_ops, plan.Step, UseCudaGraphs);
        try
        {
            var decoder = plan.Decode is null ? null : PlannedVaeDecode.Create((CudaOps)_vae.Ops, _vae.Config, plan.Decode, plan.DecodeChunk, latentH, latentW);
            if (step.UsesGraph)
            {
                Log?.Invoke("the UNet step is replayed as a CUDA graph from its second call");
            }

            return (step, decoder);
        }
        catch
        {
            step.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Stops the run when <paramref name="values"/> holds NaN or infinity, saying at which step and where: users
    /// report black frames from I2VGen-XL in fp16 when activations overflow, and bf16 (or fp32) avoids it.
    /// </summary>
    private void CheckFinite(Tensor values, int step, int timestep, string where)
    {
        var count = _ops.CountNonFinite(values);
        if (count > 0)
        {
            var hint = _ops.ActivationDType == DType.F16
                ? " The GPU backend runs in fp16, whose range is small: run it in bf16 (CudaOpsOptions.ActivationDType) or on the CPU."
                : " Check the initial noise, the image and the model's weights.";
            throw new NonFiniteValuesException(
                $"Step {step + 1} (t={timestep}): {where} holds {count} non-finite value(s) of {values.ElementCount}; the run was stopped.{hint}");
        }
    }

    /// <summary>
    /// Frame 0 is the image latent; frame k of F-1 more is the constant float32(k / (F - 1)) everywhere (diffusers'
    /// frame-position mask), the same for each of <paramref name="batch"/> copies: (batch * F, h, w, L).
    /// </summary>
    public static Tensor FramePositionLatents(Tensor latent, int frames, int batch)
    {
        ArgumentNullException.ThrowIfNull(latent);
        var one = latent.AsSpan<float>();
        var result = Tensor.Zeros(DType.F32, new TensorShape(batch * frames, latent.Shape[1], latent.Shape[2], latent.Shape[3]));
        var values = result.AsSpan<float>();
        for (var b = 0; b < batch; b++)
        {
            for (var f = 0; f < frames; f++)
            {
                var target = values.Slice(((b * frames) + f) * one.Length, one.Length);
                if (f == 0)
                {
                    one.CopyTo(target);
                }
                else
                {
                    target.Fill((float)((double)f / (frames - 1)));
                }
            }
        }

        return result;
    }

    /// <summary>
    /// The n standard-normal values an eta &gt; 0 step adds, drawn as diffusers draws them (torch.randn of the
    /// model output's shape (1, L, F, h, w), in that element order), then laid out channels-last like the latents.
    /// </summary>
    private static Tensor VarianceNoise(SeededRandom generator, int frames, int h, int w, int channels) =>
        generator.StandardNormal(new TensorShape(1, channels, frames, h, w)).Permute(0, 2, 3, 4, 1).Contiguous().Reshape(frames, h, w, channels);

    private static Tensor InitialLatents(GenerationOptions options, SeededRandom generator, int frames, int h, int w, int channels)
    {
        var shape = new TensorShape(1, channels, frames, h, w);
        var noise = options.InitialNoise ?? generator.StandardNormal(shape);
        if (noise.Shape != shape)
        {
            throw new ArgumentException($"Initial noise must be {shape} (1, latent channels, frames, h, w); got {noise.Shape}.", nameof(options));
        }

        // (1, L, F, h, w) -> (F, h, w, L).
        return noise.Permute(0, 2, 3, 4, 1).Contiguous().To(DType.F32).Reshape(frames, h, w, channels);
    }

    private static Tensor ToNcfhw(Tensor channelsLast, int frames)
    {
        int n = channelsLast.Shape[0], h = channelsLast.Shape[1], w = channelsLast.Shape[2], c = channelsLast.Shape[3];
        return channelsLast.Reshape(n / frames, frames, h, w, c).Permute(0, 4, 1, 2, 3).Contiguous();
    }

    private static Tensor Scale(Tensor x, float factor)
    {
        var result = x.To(DType.F32);
        var values = result.AsSpan<float>();
        for (var i = 0; i < values.Length; i++)
        {
            values[i] *= factor;
        }

        return result;
    }

    private static Tensor Concat0(Tensor a, Tensor b) => ConcatHost([a, b]);

    private static Tensor ConcatHost(List<Tensor> parts)
    {
        var dims = parts[0].Shape.Dims.ToArray();
        dims[0] = parts.Sum(p => p.Shape[0]);
        var result = Tensor.Zeros(DType.F32, new TensorShape(dims));
        var target = result.AsSpan<float>();
        var offset = 0;
        foreach (var part in parts)
        {
            var values = (part.DType == DType.F32 ? part.Contiguous() : part.To(DType.F32)).AsSpan<float>();
            values.CopyTo(target[offset..]);
            offset += values.Length;
        }

        return result;
    }

    /// <inheritdoc/>
    public void Dispose() => _owned?.Dispose();
}
