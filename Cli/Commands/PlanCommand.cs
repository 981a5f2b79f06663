using System.Globalization;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.MemoryPlanning;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Cli.Commands;

/// <summary>
/// <c>cudai2v plan</c>: the memory plan of a request, made without a GPU (shapes only), so a card can be checked before
/// time is bought on it. Without <c>--model</c> it plans the release (ali-vilab/i2vgen-xl) from its configs and weight
/// layouts built into the tool (Bench/*.json and tests/fixtures/release-layout/image_encoder.json).
/// </summary>
internal static class PlanCommand
{
    /// <summary>Prompt tokens a request's text context has (the CLIP tokenizer's model_max_length).</summary>
    private const int TextTokens = 77;

    public static CommandSpec Spec { get; } = new(
        "plan",
        "Print the memory plan of a request without a GPU: the choices that fit a budget, the planned peak and the cost.",
        "[--height H] [--width W] [--frames F] [--memory-budget SIZE] [--model <folder>]",
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
        ],
        Run,
        "Exits 0 when the request fits the budget and 3, saying what would fit, when it cannot. The budget counts the\n"
        + "weights, an estimated device overhead (CUDA context and workspace), each stage's arena and its reserve.");

    private static int Run(ParsedArgs args, CliContext context)
    {
        var height = args.GetInt32("height", 704, 8, 16384);
        var width = args.GetInt32("width", 1280, 8, 16384);
        var frames = args.GetInt32("frames", 16, 1, 1024);
        var steps = args.GetInt32("steps", 50, 1, 1000);
        var batch = args.GetNonNegativeDouble("guidance", 9.0) > 1.0 ? 2 : 1;
        var budget = args.GetByteSize("memory-budget");
        var dtype = args.GetGpuDType(allowFp32: true);
        var vaePrecision = args.GetVaePrecision();
        var (source, unet, vae, unetShapes, vaeShapes, clipShapes) = args.Get("model") is { } folder ? FromModel(folder, dtype) : Release();
        if (height % vae.ScaleFactor != 0 || width % vae.ScaleFactor != 0)
        {
            throw new UsageException($"--height and --width must be multiples of the VAE's scale factor {vae.ScaleFactor}, got {width}x{height}.");
        }

        var vaeDType = VideoEngineLoader.VaeDType(vaePrecision, vae.ForceUpcast, dtype);
        var models = new RequestModels(dtype, unet, unetShapes, vaeDType, vae, vaeShapes);
        long unetBytes = Bytes(dtype, unetShapes), clipBytes = Bytes(dtype, clipShapes), vaeBytes = Bytes(vaeDType, vaeShapes);
        var resident = unetBytes + clipBytes + vaeBytes + MemoryPlanner.DeviceOverhead;
        var limit = budget is { } b ? b - resident : long.MaxValue;
        var o = context.Out;
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"request: {width}x{height}, {frames} frame{(frames == 1 ? "" : "s")}, {steps} steps, {batch} video{(batch == 1 ? "" : "s")} per step; UNet and image encoder in {dtype.SafetensorsName()}, VAE in {vaeDType.SafetensorsName()}; {source}"));
        o.WriteLine(
            $"resident: {ArenaPlan.FormatBytes(resident)} (weights: UNet {ArenaPlan.FormatBytes(unetBytes)}, image encoder {ArenaPlan.FormatBytes(clipBytes)}, VAE {ArenaPlan.FormatBytes(vaeBytes)}; "
            + $"device overhead {ArenaPlan.FormatBytes(MemoryPlanner.DeviceOverhead)}, estimated)");
        var plan = MemoryPlanner.Plan(models, new MemoryRequest(batch, frames, height, width, TextTokens, steps), resident, limit, budget, "the budget");
        var step = plan.Request.Step;
        o.WriteLine($"choices: {plan.Choices.Describe()}");
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"denoising: {ArenaPlan.FormatBytes(plan.DenoiseBytes)} (UNet step arena {ArenaPlan.FormatBytes(step.Arena.Peak)}, run {step.Runs} time{(step.Runs == 1 ? "" : "s")} per step; "
            + $"conditioning {ArenaPlan.FormatBytes(step.ConditioningBytes)}; reserve {ArenaPlan.FormatBytes(RequestMemory.Reserve)})"));
        o.WriteLine($"decode: {ArenaPlan.FormatBytes(plan.DecodeBytes)} (VAE decode arena {ArenaPlan.FormatBytes(plan.Request.Decode.Arena.Peak)}; reserve {ArenaPlan.FormatBytes(RequestMemory.Reserve)})");
        o.WriteLine(budget is { } limitBytes
            ? $"peak: {ArenaPlan.FormatBytes(plan.Peak)} of the {ArenaPlan.FormatBytes(limitBytes)} budget: fits"
            : $"peak: {ArenaPlan.FormatBytes(plan.Peak)} (no budget: the unconstrained plan)");
        o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"cost: {plan.Launches:N0} launches, {plan.Cost:F2}x the unconstrained plan's {plan.UnconstrainedLaunches:N0} (the same FLOPs)"));
        return ExitCodes.Success;
    }

    private static long Bytes(DType dtype, IReadOnlyList<WeightManifestEntry> shapes) => shapes.Sum(e => e.Shape.ElementCount * dtype.SizeOf());

    private static (string, UNetConfig, VaeConfig, IReadOnlyList<WeightManifestEntry>, IReadOnlyList<WeightManifestEntry>, IReadOnlyList<WeightManifestEntry>) FromModel(string folder, DType dtype)
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

        return ($"model {model.Root}", model.UNet, model.Vae, Layout(ComponentKind.Unet), Layout(ComponentKind.Vae), Layout(ComponentKind.ImageEncoder));
    }

    /// <summary>The release's UNet and VAE configs and the three weight layouts, from the tool's resources.</summary>
    private static (string, UNetConfig, VaeConfig, IReadOnlyList<WeightManifestEntry>, IReadOnlyList<WeightManifestEntry>, IReadOnlyList<WeightManifestEntry>) Release()
    {
        var folder = Directory.CreateTempSubdirectory("cudai2v-plan-").FullName;
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
                WeightManifest.Load(Resource("unet-manifest.json")).Entries, WeightManifest.Load(Resource("vae-manifest.json")).Entries,
                WeightManifest.Load(Resource("image_encoder-manifest.json")).Entries);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
