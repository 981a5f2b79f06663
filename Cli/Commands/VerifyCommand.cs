using System.Text;
using CudaI2V.Cli.Commands.Verify;
using CudaI2V.Kernels.Cpu;
using CudaI2V.Loader;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Cli.Commands;

/// <summary>
/// <c>cudai2v verify &lt;component&gt;</c>: runs one model component on the inputs of a reference file (laid out
/// like the fixtures' io files) and compares with the expected outputs, under the contract of
/// <see cref="VerifyReport"/>. Each component is an <see cref="IComponentVerifier"/>.
/// </summary>
internal static class VerifyCommand
{
    private const double GpuRelativeTolerance = 2e-2;

    /// <summary>
    /// bf16 keeps 3 fewer mantissa bits than fp16 (unit roundoff 2^-9 against 2^-12), so its rounding errors are
    /// about 8 times fp16's: the fp16 bar times 8. Not yet measured on a GPU.
    /// </summary>
    private const double GpuBf16RelativeTolerance = 8 * GpuRelativeTolerance;

    private static readonly IComponentVerifier[] Verifiers =
    [
        new UNetVerifier(),
        new VaeEncodeVerifier(),
        new VaeDecodeVerifier(),
        new ImageEncoderVerifier(),
        new SchedulerVerifier(),
        new TextEncoderVerifier(),
        new PipelineVerifier(),
    ];

    public static CommandSpec Spec { get; } = new(
        "verify",
        "Run a component on a reference file's inputs and compare with its expected outputs.",
        "<component> --model <folder> --io <file> [--device cpu] [--tolerance <abs>] [--variant fp32|fp16] [--dtype fp16|bf16] [--vae-precision auto|model|fp32] [--cache-dir <folder>]",
        [
            new OptionSpec("model", "folder", "A pipeline folder or the component's own folder.", Required: true),
            new OptionSpec("io", "file", "The reference .safetensors file with inputs and expected outputs.", Required: true),
            new OptionSpec("device", "auto|cpu|cuda", "Where to run: the GPU when one works (auto), the fp32 CPU reference, or the GPU only.", Default: "auto"),
            new OptionSpec("tolerance", "abs", "Largest allowed absolute difference.", Default: "on the CPU 1e-4 (5e-4 for the pipeline's [0, 1] video); on the GPU (fp16) max_rel 2e-2 instead"),
            new OptionSpec("variant", "fp32|fp16", "Which weight files to load where both exist.", Default: "fp32 on the CPU"),
            new OptionSpec("dtype", "fp16|bf16", "The GPU's storage type (the default bar in bf16 is max_rel 1.6e-1). The CPU runs in fp32.", Default: "fp16"),
            new OptionSpec("image", "file", "pipeline only: the input image.", Default: "the file the io metadata names, beside the io file"),
            new OptionSpec("vae-precision", "auto|model|fp32", "pipeline only: " + GenerateCommand.VaePrecisionHelp, Default: "auto"),
            new OptionSpec("cache-dir", "folder", "Where built models are kept between runs (text-encoder, pipeline).", Default: $"${CacheRoot.EnvironmentVariable}, else the user's cache folder"),
        ],
        Run,
        ComponentHelp(),
        ["component"]);

    private static string ComponentHelp()
    {
        var sb = new StringBuilder("Components:\n");
        foreach (var verifier in Verifiers)
        {
            var lines = verifier.Help.Split('\n');
            sb.Append("  ").Append(verifier.Name.PadRight(15)).AppendLine(lines[0]);
            foreach (var line in lines.Skip(1))
            {
                sb.Append(' ', 17).AppendLine(line);
            }
        }

        sb.Append("Output: one line per compared tensor, then 'max_abs=<a> max_rel=<r> nmse=<n> PASS' (or FAIL) as the last\n")
            .Append("line, where max_rel = max_abs / max|expected| and nmse = sum (a-e)^2 / sum e^2. Timing goes to stderr.");
        return sb.ToString();
    }

    private static int Run(ParsedArgs args, CliContext context)
    {
        var name = args.Positionals[0];
        var verifier = Verifiers.FirstOrDefault(v => v.Name == name)
            ?? throw new UsageException($"Unknown component '{name}'; 'verify' knows {string.Join(", ", Verifiers.Select(v => v.Name))}.");
        var device = args.Choice("device", "auto", Backends.Devices);
        var dtype = args.GetGpuDType();
        var tolerance = args.Has("tolerance") ? args.GetPositiveDouble("tolerance", verifier.DefaultTolerance) : (double?)null;
        var cache = CacheRoot.Resolve(args.Get("cache-dir"));
        var variant = args.Variant();
        if (args.Has("vae-precision"))
        {
            if (verifier is not PipelineVerifier)
            {
                throw new UsageException($"--vae-precision applies to 'verify pipeline' only, not '{name}'.");
            }

            _ = args.GetVaePrecision(); // checked before anything loads; the pipeline verifier reads it
        }

        var model = ModelDirectory.Open(args.Require("model"));
        using var io = IoFile.Open(args.Require("io"));
        var ops = Backends.Create(device, cache, context.Error, dtype);
        try
        {
            // fp16 on the GPU against fp32 references: issue 8's bar is max_rel 2e-2 for a whole model call.
            var report = tolerance is not null || ops is CpuOps
                ? new VerifyReport(context.Out, tolerance ?? verifier.DefaultTolerance)
                : VerifyReport.Relative(context.Out, dtype == DType.BF16 ? GpuBf16RelativeTolerance : GpuRelativeTolerance);
            verifier.Run(new VerifyRun(model, variant, io, ops, report, context, cache, args));
            return report.Finish();
        }
        finally
        {
            (ops as IDisposable)?.Dispose();
        }
    }
}
