using System.Globalization;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Pipeline.Text;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Cli.Commands;

/// <summary><c>cudai2v inspect</c>: what a model folder holds, read from headers and configs only.</summary>
internal static class InspectCommand
{
    public static CommandSpec Spec { get; } = new(
        "inspect",
        "Show each component of a model folder: class, parameters, dtypes, bytes and key config values.",
        "--model <folder> [--variant fp32|fp16]",
        [
            new OptionSpec("model", "folder", "A pipeline folder (with model_index.json) or one component's folder.", Required: true, Letter: 'm'),
            new OptionSpec("variant", "fp32|fp16", "Which weight files to count where both exist.", Default: "fp32, else fp16"),
        ],
        Run,
        "Reads only file headers and configs; no weights are loaded. A component that cannot be read is reported\n"
        + "on stderr and the others are still shown (exit code 3 then).");

    private static int Run(ParsedArgs args, CliContext context)
    {
        var variant = args.Variant();
        var model = ModelDirectory.Open(args.Require("model"));
        var output = context.Out;
        output.WriteLine($"model: {model.Root}");
        if (model.Index is { } index)
        {
            output.WriteLine($"  {index.ClassName ?? "pipeline"} (diffusers {index.DiffusersVersion ?? "unknown"}), {model.Components.Count} components");
            WriteUnknown(output, index.UnknownKeys);
            foreach (var ignored in model.IgnoredComponents)
            {
                output.WriteLine($"  not used by CudaI2V: {ignored}");
            }
        }
        else
        {
            output.WriteLine($"  a single {model.Components[0].Kind.FolderName()} component");
        }

        var failures = 0;
        foreach (var component in model.Components)
        {
            output.WriteLine();
            try
            {
                Describe(component, variant, output);
            }
            catch (ModelFileException e)
            {
                failures++;
                output.WriteLine($"{component.Kind.FolderName()}: unreadable (see stderr)");
                context.Error.WriteLine($"cudai2v inspect: {component.Kind.FolderName()}: {e.Message}");
            }
        }

        if (failures == 0 && model.IsPipeline)
        {
            // What generate checks across components before loading: inspect refuses the same folders.
            try
            {
                PipelineChecks.Check(model);
                if (model.Has(ComponentKind.Tokenizer) && model.Has(ComponentKind.TextEncoder))
                {
                    ClipTokenizer.Load(model.Tokenizer).CheckFits(model.TextEncoder);
                }

                output.WriteLine();
                output.WriteLine("components agree (channels, widths, crop size, token positions)");
            }
            catch (ModelFileException e)
            {
                failures++;
                context.Error.WriteLine($"cudai2v inspect: {e.Message}");
            }
        }

        return failures == 0 ? ExitCodes.Success : ExitCodes.BadInput;
    }

    private static void Describe(ComponentFolder component, WeightVariant? variant, TextWriter output)
    {
        var config = component.Config;
        output.WriteLine($"{component.Kind.FolderName()}: {component.ClassName}");
        if (config is TokenizerConfig tokenizerConfig)
        {
            // vocab.json and merges.txt are read as generate reads them.
            var tokenizer = ClipTokenizer.Load(tokenizerConfig);
            output.WriteLine($"  vocabulary: {tokenizer.VocabularySize} tokens");
        }

        if (component.Kind.HasWeights())
        {
            var files = component.ResolveWeights(variant, WeightVariant.Fp32);
            using var weights = files.Open(component.Kind.FolderName());
            var keys = weights.Keys.Where(k => !WeightSet.IsIgnoredBuffer(k)).ToList();
            var parameters = keys.Sum(k => weights.ShapeOf(k).ElementCount);
            var bytes = keys.Sum(k => weights.ShapeOf(k).ElementCount * weights.DTypeOf(k).SizeOf());
            var dtypes = keys.Select(weights.DTypeOf).Distinct().Order().Select(d => d.SafetensorsName());
            var names = string.Join(", ", files.Files.Select(Path.GetFileName));
            output.WriteLine($"  weights: {names} ({files.Variant.ToString().ToLowerInvariant()} variant{(files.IndexFile is null ? "" : ", sharded")})");
            output.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"  parameters: {parameters:N0} in {keys.Count} tensors; dtypes {string.Join(", ", dtypes)}; {bytes:N0} bytes"));
            var buffers = weights.Count - keys.Count;
            if (buffers > 0)
            {
                output.WriteLine($"  buffers without weights (ignored): {buffers}");
            }
        }

        foreach (var (name, value) in config.Summary())
        {
            output.WriteLine($"  {name}: {value}");
        }

        WriteUnknown(output, config.UnknownKeys);
        foreach (var note in config.Notes)
        {
            output.WriteLine($"  note: {note}");
        }
    }

    private static void WriteUnknown(TextWriter output, IReadOnlyDictionary<string, string> unknown)
    {
        if (unknown.Count > 0)
        {
            output.WriteLine($"  unknown config keys (kept, not used): {string.Join(", ", unknown.Select(p => $"{p.Key}={p.Value}"))}");
        }
    }
}
