using System.Globalization;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.MemoryPlanning;
using CudaI2V.Pipeline.Scheduling;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Cli.Commands;

/// <summary>
/// <c>cudai2v plan</c>: the memory plan of a request, made without a GPU (shapes only), so a card can be checked before
/// time is bought on it. Without <c>--model</c> it plans the release (ali-vilab/i2vgen-xl) from its configs and weight
/// layouts built into the tool (Bench/*.json, tests/fixtures/release-layout/image_encoder.json and the release's
/// scheduler config). It reads the request's options, weights and sampler as <c>generate</c> does and plans through the
/// same <see cref="MemoryPlanner.Plan"/>, with no device's free memory to fit.
/// </summary>
internal static class PlanCommand
{
    /// <summary>Prompt tokens a request's text context has (the CLIP tokenizer's model_max_length).</summary>
    private const int TextTokens = 77;

    public static CommandSpec Spec { get; } = new(
        "plan",
        "Print the memory plan of a request without a GPU: the choices that fit a budget, the planned peak and the cost.",
        "[--height H] [--width W] [--frames F] [--memory-budget SIZE] [--model <folder>] [--cache-interval N] [--refine-from WxH]",
        [
            new OptionSpec("height", "pixels", "Video height, a multiple of 8.", Default: "704"),
            new OptionSpec("width", "pixels", "Video width, a multiple of 8.", Default: "1280"),
            new OptionSpec("frames", "n", "Frames of video.", Default: "16"),
            new OptionSpec("memory-budget", "size", "The device memory to fit, weights included (24GiB, 8GiB, 512MiB).", Default: "none: the unconstrained plan"),
            new OptionSpec("model", "folder", "The pipeline folder whose configs and weight layouts to plan (weights are not read).", Default: "the release's layout, built in", Letter: 'm'),
            new OptionSpec("steps", "n", "Denoising steps (for the cost).", Default: "50"),
            new OptionSpec("guidance", "scale", "Classifier-free guidance scale (above 1: two videos per step).", Default: "9"),
            new OptionSpec("dtype", "fp16|bf16|fp32", "The GPU's storage type of the UNet and image encoder.", Default: "fp16"),
            new OptionSpec("vae-precision", "auto|model|fp32", GenerateCommand.VaePrecisionHelp, Default: "auto"),
            SamplerOptions.Specs[0],
            .. SpeedOptions.Specs,
        ],
        Run,
        "Exits 0 when the request fits the budget and 3, saying what would fit, when it cannot. The budget counts the\n"
        + "weights, an estimated device overhead (CUDA context and workspace), each stage's arena and its reserve.");

    private static int Run(ParsedArgs args, CliContext context)
    {
        var options = SpeedOptions.Read(args, new GenerationOptions
        {
            Prompt = "",
            Height = args.GetInt32("height", 704, 8, 16384),
            Width = args.GetInt32("width", 1280, 8, 16384),
            Frames = args.GetInt32("frames", 16, 1, 1024),
            Steps = args.GetInt32("steps", 50, 1, 1000),
            Guidance = args.GetNonNegativeDouble("guidance", 9.0),
            MemoryBudget = args.GetByteSize("memory-budget"),
            Sampler = SamplerOptions.Sampler(args),
        });
        var dtype = args.GetGpuDType(allowFp32: true);
        var vaePrecision = args.GetVaePrecision();
        var (source, unet, vae, clip, unetShapes, vaeShapes, clipShapes, scheduler) = args.Get("model") is { } folder ? FromModel(folder, dtype) : Release();
        try
        {
            if (options.Height % vae.ScaleFactor != 0 || options.Width % vae.ScaleFactor != 0)
            {
                throw new UsageException($"--height and --width must be multiples of the VAE's scale factor {vae.ScaleFactor}, got {options.Width}x{options.Height}.");
            }

            if (options.CacheDepth is { } depth && depth >= unet.BlockOutChannels.Count)
            {
                throw new UsageException($"--cache-depth must be 0 to {unet.BlockOutChannels.Count - 1} for this UNet (the up block whose input is cached), got {depth}.");
            }

            if (options.RefineProblem() is { } refine)
            {
                throw new UsageException($"--{refine.Message}.");
            }

            // The sampler as generate builds it: its history is planned with the request.
            Sampler sampler;
            try
            {
                sampler = Samplers.Create(options.Sampler, scheduler);
                sampler.SetTimesteps(options.Steps);
            }
            catch (ArgumentException e)
            {
                throw new UsageException($"--sampler/--steps: {e.Message.Split('\n')[0]}");
            }

            var vaeDType = VideoEngineLoader.VaeDType(vaePrecision, vae.ForceUpcast, dtype);
            var models = new RequestModels(dtype, unet, unetShapes, vaeDType, vae, vaeShapes, clip, clipShapes);
            var weights = ComponentWeights.Of(dtype, unetShapes, clipShapes, vaeDType, vaeShapes);
            var batch = MemoryRequest.Of(options, models, sampler.StateSlots, TextTokens).Batch;
            var o = context.Out;
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"request: {options.Width}x{options.Height}, {options.Frames} frame{(options.Frames == 1 ? "" : "s")}, {options.Steps} steps of {sampler.ClassName}, {batch} video{(batch == 1 ? "" : "s")} per step; "
                + $"UNet and image encoder in {dtype.SafetensorsName()}, VAE in {vaeDType.SafetensorsName()}; {source}"));
            var plan = MemoryPlanner.PlanRequest(models, options, sampler.StateSlots, TextTokens, weights, options.MemoryBudget, long.MaxValue, "the budget");
            Print(o, plan);
            if (plan.LowPass is { } low)
            {
                o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"refine: the {options.Steps} steps at {options.RefineFrom} first, under the same weights: image encode {ArenaPlan.FormatBytes(low.Request.EncodeBytes)}, "
                    + $"denoising {ArenaPlan.FormatBytes(low.Request.DenoiseBytes)} ({low.Choices.Describe(decode: false)}); then the last {RefineSize.TailSteps(options.Steps, options.RefineStrength)} at {options.Width}x{options.Height}, decoded at that size"));
            }

            return ExitCodes.Success;
        }
        finally
        {
            if (args.Get("model") is null)
            {
                File.Delete(scheduler);
            }
        }
    }

    private static void Print(TextWriter o, MemoryPlan plan)
    {
        var request = plan.Request;
        var step = request.Step;
        var weights = plan.Weights;
        string Bytes(long bytes) => ArenaPlan.FormatBytes(bytes);
        string Held(RequestStage stage) => $"beside {Bytes(plan.WeightsIn(stage))} of weights";
        var overhead = plan.Budget is null ? "no device overhead counted without a budget" : $"device overhead {Bytes(plan.Overhead)}, estimated";
        o.WriteLine($"weights: UNet {Bytes(weights.UNet)}, VAE decoder {Bytes(weights.Decoder)}, image encoder and VAE encoder {Bytes(weights.Encoders)}; {overhead}");
        o.WriteLine($"choices: {plan.Choices.Describe()}");
        o.WriteLine(
            $"image encode: {Bytes(request.EncodeBytes)} {Held(RequestStage.Encode)} (image encoder arena {Bytes(request.Encode.Clip.Arena.Peak)}, "
            + $"VAE encode arena {Bytes(request.Encode.Vae.Arena.Peak)}, one at a time; input {Bytes(request.Encode.InputBytes)}; reserve {Bytes(RequestMemory.Reserve)})");
        var cached = step.Cached is { } c ? $"; cached step arena {Bytes(c.Arena.Peak)} in the same block, and deep-feature cache {Bytes(step.DeepFeatureBytes)}" : "";
        var sampler = request.SamplerBytes > 0 ? $"; sampler history {Bytes(request.SamplerBytes)}" : "";
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"denoising: {Bytes(request.DenoiseBytes)} {Held(RequestStage.Denoise)} (UNet step arena {Bytes(step.Arena.Peak)}, run {step.Runs} time{(step.Runs == 1 ? "" : "s")} per step{cached}; "
            + $"conditioning {Bytes(step.ConditioningBytes)}; step embeddings {Bytes(request.StepEmbeddingsBytes)}; buffers {Bytes(step.BufferBytes)}{sampler}; reserve {Bytes(RequestMemory.Reserve)})"));
        var tiles = request.DecodeTiles;
        var tiled = tiles > 1 ? string.Create(CultureInfo.InvariantCulture, $" for the largest of {tiles} tiles per frame") : "";
        o.WriteLine($"decode: {Bytes(request.DecodeBytes)} {Held(RequestStage.Decode)} (VAE decode arena {Bytes(request.Decode.Arena.Peak)}{tiled}; reserve {Bytes(RequestMemory.Reserve)})");
        var peak = $"peak: {Bytes(plan.Peak)} in the {MemoryPlan.Name(plan.PeakStage)}";
        o.WriteLine(plan.Budget is { } limitBytes
            ? $"{peak}, of the {Bytes(limitBytes)} budget: fits"
            : $"{peak} (no budget: the unconstrained plan, weights and activations without the device overhead)");
        var reload = plan.ReloadedBytes > 0 ? $"; uploads {Bytes(plan.ReloadedBytes)} of weights again per request" : "";
        o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"cost: {plan.Launches:N0} launches, {plan.Cost:F2}x the unconstrained plan's {plan.UnconstrainedLaunches:N0} (the same FLOPs){reload}"));
    }

    private static (string, UNetConfig, VaeConfig, ClipVisionConfig, IReadOnlyList<WeightManifestEntry>, IReadOnlyList<WeightManifestEntry>, IReadOnlyList<WeightManifestEntry>, string) FromModel(string folder, DType dtype)
    {
        var model = ModelDirectory.Open(folder);
        if (!model.IsPipeline)
        {
            throw new ModelFileException($"{model.Root} holds one component; a plan needs the whole pipeline folder (with model_index.json).", model.Root);
        }

        var preferred = WeightFiles.DefaultFor(dtype);
        IReadOnlyList<WeightManifestEntry> Layout(ComponentKind kind)
        {
            using var weights = model.Get(kind).OpenWeights(null, preferred);
            return weights.Layout();
        }

        return ($"model {model.Root}", model.UNet, model.Vae, model.ImageEncoder, Layout(ComponentKind.Unet), Layout(ComponentKind.Vae), Layout(ComponentKind.ImageEncoder), model.SchedulerConfigPath);
    }

    /// <summary>
    /// The release's UNet and VAE configs and the three weight layouts, from the tool's resources, and its scheduler config
    /// copied to a temporary file (the caller deletes it).
    /// </summary>
    private static (string, UNetConfig, VaeConfig, ClipVisionConfig, IReadOnlyList<WeightManifestEntry>, IReadOnlyList<WeightManifestEntry>, IReadOnlyList<WeightManifestEntry>, string) Release()
    {
        var folder = Directory.CreateTempSubdirectory("cudai2v-plan-").FullName;
        var scheduler = Path.GetTempFileName();
        try
        {
            string Resource(string name)
            {
                var path = Path.Combine(folder, name);
                using var source = typeof(PlanCommand).Assembly.GetManifestResourceStream("bench/" + name)
                    ?? throw new InvalidOperationException($"The release layout '{name}' is missing from this build of cudai2v.");
                using var file = File.Create(path);
                source.CopyTo(file);
                return path;
            }

            return ("the release layout (ali-vilab/i2vgen-xl)", UNetConfig.Load(Resource("unet-config.json")), VaeConfig.Load(Resource("vae-config.json")),
                ClipVisionConfig.Load(Resource("image_encoder-config.json")),
                WeightManifest.Load(Resource("unet-manifest.json")).Entries, WeightManifest.Load(Resource("vae-manifest.json")).Entries,
                WeightManifest.Load(Resource("image_encoder-manifest.json")).Entries, Copy(Resource("scheduler_config.json"), scheduler));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static string Copy(string from, string to)
    {
        File.Copy(from, to, overwrite: true);
        return to;
    }
}
