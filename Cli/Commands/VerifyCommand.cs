using System.Diagnostics;
using System.Globalization;
using CudaI2V.Kernels;
using CudaI2V.Kernels.Cpu;
using CudaI2V.Layers.UNet;
using CudaI2V.Loader;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Cli.Commands;

/// <summary>
/// <c>cudai2v verify &lt;component&gt;</c>: runs one model component on the inputs of a reference file (laid out
/// like the fixtures' io files) and compares with the expected outputs, under the contract of
/// <see cref="VerifyReport"/>.
/// </summary>
internal static class VerifyCommand
{
    private const double CpuTolerance = 1e-4;

    private static readonly string[] Components = ["unet"];

    public static CommandSpec Spec { get; } = new(
        "verify",
        "Run a component on a reference file's inputs and compare with its expected outputs.",
        "<component> --model <folder> --io <file> [--device cpu] [--tolerance <abs>] [--variant fp32|fp16]",
        [
            new OptionSpec("model", "folder", "A pipeline folder or the component's own folder.", Required: true),
            new OptionSpec("io", "file", "The reference .safetensors file with inputs and expected outputs.", Required: true),
            new OptionSpec("device", "cpu", "Where to run.", Default: "cpu"),
            new OptionSpec("tolerance", "abs", "Largest allowed absolute difference.", Default: "1e-4 on the CPU"),
            new OptionSpec("variant", "fp32|fp16", "Which weight files to load where both exist.", Default: "fp32 on the CPU"),
        ],
        Run,
        "Components:\n"
        + "  unet   reads input.sample, input.timestep, input.fps, input.image_latents, input.image_embeddings,\n"
        + "         input.encoder_hidden_states (diffusers' NCFHW layout) and compares 'output'.\n"
        + "Output: one line per compared tensor, then 'max_abs=<a> max_rel=<r> nmse=<n> PASS' (or FAIL) as the last\n"
        + "line, where max_rel = max_abs / max|expected| and nmse = sum (a-e)^2 / sum e^2. Timing goes to stderr.",
        ["component"]);

    private static int Run(ParsedArgs args, CliContext context)
    {
        var component = args.Positionals[0];
        if (!Components.Contains(component))
        {
            throw new UsageException($"Unknown component '{component}'; 'verify' knows {string.Join(", ", Components)}.");
        }

        args.Choice("device", "cpu", "cpu");
        var tolerance = args.GetPositiveDouble("tolerance", CpuTolerance);
        var variant = args.Has("variant") ? (args.Choice("variant", "fp32", "fp32", "fp16") == "fp16" ? WeightVariant.Fp16 : WeightVariant.Fp32) : (WeightVariant?)null;
        var model = ModelDirectory.Open(args.Require("model"));
        using var io = IoFile.Open(args.Require("io"));
        IOps ops = new CpuOps();
        var report = new VerifyReport(context.Out, tolerance);
        VerifyUNet(model, variant, io, ops, report, context);
        return report.Finish();
    }

    private static void VerifyUNet(ModelDirectory model, WeightVariant? variant, IoFile io, IOps ops, VerifyReport report, CliContext context)
    {
        var folder = model.Get(ComponentKind.Unet);
        var config = model.UNet;
        foreach (var note in config.Notes)
        {
            context.Error.WriteLine($"cudai2v verify: note: {note}");
        }

        var c = config.InChannels;
        var cross = config.CrossAttentionDim;
        var sample = io.Require("input.sample", 5, $"(B, {c}, F, H, W)");
        if (sample.Shape[1] != c)
        {
            throw new ModelFileException($"{io.Path}: 'input.sample' has shape {sample.Shape}; expected (B, {c}, F, H, W) for this UNet's in_channels {c}.", io.Path, "input.sample");
        }

        int batch = sample.Shape[0], frames = sample.Shape[2];
        var imageLatents = io.Require("input.image_latents", sample.Shape, "the sample's shape");
        var imageEmbeddings = io.Require("input.image_embeddings", new TensorShape(batch, 1, cross), "(B, 1, cross_attention_dim)");
        var text = io.Require("input.encoder_hidden_states", 3, $"({batch}, L, {cross})");
        if (text.Shape[0] != batch || text.Shape[2] != cross)
        {
            throw new ModelFileException($"{io.Path}: 'input.encoder_hidden_states' has shape {text.Shape}; expected ({batch}, L, {cross}).", io.Path, "input.encoder_hidden_states");
        }

        var fps = io.Require("input.fps", new TensorShape(batch), "one fps per video").ToFloat32Array();
        var timestep = io.Scalar("input.timestep");
        var expected = io.Require("output", new TensorShape(batch, config.OutChannels, frames, sample.Shape[3], sample.Shape[4]), "(B, out_channels, F, H, W)");

        var clock = Stopwatch.StartNew();
        using var weights = folder.OpenWeights(variant, WeightVariant.Fp32);
        var unet = I2VGenXLUNet.Load(ops, weights, config);
        var loaded = clock.Elapsed;

        clock.Restart();
        var conditioning = unet.Condition(
            ops.NcfhwToNhwc(ops.FromHost(imageLatents)), ops.FromHost(imageEmbeddings), ops.FromHost(text), fps, frames);
        var output = unet.Forward(ops.NcfhwToNhwc(ops.FromHost(sample)), timestep, conditioning);
        var actual = ops.ToHost(ops.NhwcToNcfhw(output, frames));
        context.Error.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"cudai2v verify: unet on {ops.Name}: load {loaded.TotalMilliseconds:F0} ms, forward {clock.Elapsed.TotalMilliseconds:F0} ms"));
        report.Add("output", actual, expected);
    }
}
