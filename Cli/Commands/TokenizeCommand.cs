using System.Globalization;
using CudaI2V.Loader;
using CudaI2V.Pipeline.Text;

namespace CudaI2V.Cli.Commands;

/// <summary><c>cudai2v tokenize</c>: the CLIP token ids of a prompt, as the text encoder receives them.</summary>
internal static class TokenizeCommand
{
    public static CommandSpec Spec { get; } = new(
        "tokenize",
        "Print the CLIP token ids of a prompt (start token, content, end token, padding).",
        "--model <folder> --prompt <text>",
        [
            new OptionSpec("model", "folder", "A pipeline folder or its tokenizer/ folder.", Required: true, Letter: 'm'),
            new OptionSpec("prompt", "text", "The prompt.", Required: true),
        ],
        Run,
        "Prints one line: the model_max_length (77) ids separated by spaces. A prompt longer than fits is truncated\n"
        + "(the end token is kept) and a warning on stderr names the part that was cut.");

    private static int Run(ParsedArgs args, CliContext context)
    {
        var model = ModelDirectory.Open(args.Require("model"));
        var tokenizer = ClipTokenizer.Load(model);
        var tokens = tokenizer.Encode(args.Require("prompt"));
        if (tokens.Warning is { } warning)
        {
            context.Error.WriteLine($"cudai2v tokenize: warning: {warning}");
        }

        context.Out.WriteLine(string.Join(' ', tokens.Ids.Select(i => i.ToString(CultureInfo.InvariantCulture))));
        return ExitCodes.Success;
    }
}
