using System.Globalization;
using System.Text;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Loader;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.MemoryPlanning;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Cli;

/// <summary>The command line is wrong; the message says how (exit code 2).</summary>
public sealed class UsageException(string message) : Exception(message)
{
    /// <summary>Creates the exception with a generic message.</summary>
    public UsageException()
        : this("Invalid command line.")
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public UsageException(string message, Exception inner)
        : this(message + " " + inner.Message)
    {
    }
}

/// <summary>One option of a command: <c>--name value</c> (or <c>--name=value</c>), or a flag when it takes no value.</summary>
/// <param name="Name">Long name without dashes.</param>
/// <param name="ValueName">Placeholder shown in help; null for a flag.</param>
/// <param name="Description">One line of help.</param>
/// <param name="Required">Must be given.</param>
/// <param name="Default">Default shown in help.</param>
/// <param name="Repeatable">May be given more than once (<see cref="ParsedArgs.GetAll"/>).</param>
/// <param name="Letter">Its one-letter form (<c>-o</c> for <c>--out</c>), as stable-diffusion.cpp's <c>sd</c> spells it; null when none.</param>
public sealed record OptionSpec(string Name, string? ValueName, string Description, bool Required = false, string? Default = null, bool Repeatable = false, char? Letter = null)
{
    /// <summary>True when the option takes no value.</summary>
    public bool IsFlag => ValueName is null;
}

/// <summary>A command's name, summary, options and the code that runs it.</summary>
/// <param name="Name">The command word.</param>
/// <param name="Summary">One line for the tool's help.</param>
/// <param name="Usage">The usage line after the command word.</param>
/// <param name="Options">Its options.</param>
/// <param name="Run">Runs the command; returns the exit code.</param>
/// <param name="Details">More help text.</param>
/// <param name="Positionals">Names of the positional arguments it takes, in order.</param>
/// <param name="RequiredPositionals">How many of them must be given (all when null).</param>
public sealed record CommandSpec(
    string Name, string Summary, string Usage, IReadOnlyList<OptionSpec> Options, Func<ParsedArgs, CliContext, int> Run,
    string? Details = null, IReadOnlyList<string>? Positionals = null, int? RequiredPositionals = null)
{
    /// <summary>The full help text of the command.</summary>
    public string Help()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"cudai2v {Name}: {Summary}");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Usage: cudai2v {Name} {Usage}");
        sb.AppendLine();
        sb.AppendLine("Options:");
        var width = Options.Select(Left).Append("--help").Max(s => s.Length) + 2;
        foreach (var option in Options)
        {
            var text = option.Description;
            if (option.Required)
            {
                text += " (required)";
            }
            else if (option.Default is not null)
            {
                text += $" (default: {option.Default})";
            }

            sb.AppendLine(CultureInfo.InvariantCulture, $"  {Left(option).PadRight(width)}{text}");
        }

        sb.AppendLine(CultureInfo.InvariantCulture, $"  {"--help".PadRight(width)}Show this help.");
        if (Details is not null)
        {
            sb.AppendLine();
            sb.AppendLine(Details);
        }

        sb.AppendLine();
        sb.AppendLine(CliApp.ExitCodeHelp);
        return sb.ToString();
    }

    private static string Left(OptionSpec o) => (o.Letter is { } c ? $"-{c}, " : "") + (o.IsFlag ? $"--{o.Name}" : $"--{o.Name} <{o.ValueName}>");
}

/// <summary>The options given to a command, checked against its <see cref="CommandSpec"/>.</summary>
public sealed class ParsedArgs
{
    private readonly Dictionary<string, string?> _values;

    private readonly Dictionary<string, List<string>> _repeated = new(StringComparer.Ordinal);

    private readonly List<string> _positionals = [];

    private ParsedArgs(Dictionary<string, string?> values) => _values = values;

    /// <summary>The positional arguments, in order.</summary>
    public IReadOnlyList<string> Positionals => _positionals;

    /// <summary>True when the user asked for help.</summary>
    public bool HelpRequested { get; private init; }

    /// <summary>Parses <paramref name="args"/> (after the command name) for <paramref name="spec"/>.</summary>
    public static ParsedArgs Parse(CommandSpec spec, IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string?>(StringComparer.Ordinal);
        var repeated = new List<(string Name, string Value)>();
        var positionals = new List<string>();
        var expected = spec.Positionals ?? [];
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg is "--help" or "-h")
            {
                return new ParsedArgs(values) { HelpRequested = true };
            }

            // A one-letter form (-o) is its option's long name (--out); case matters (-H is --height, -h is help).
            if (arg.Length == 2 && arg[0] == '-' && spec.Options.FirstOrDefault(o => o.Letter == arg[1]) is { } shortForm)
            {
                arg = "--" + shortForm.Name;
            }

            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
            {
                if (positionals.Count < expected.Count && !arg.StartsWith('-'))
                {
                    positionals.Add(arg);
                    continue;
                }

                throw new UsageException($"Unexpected argument '{arg}'. Options start with --; see 'cudai2v {spec.Name} --help'.");
            }

            var name = arg[2..];
            string? inline = null;
            var eq = name.IndexOf('=', StringComparison.Ordinal);
            if (eq >= 0)
            {
                inline = name[(eq + 1)..];
                name = name[..eq];
            }

            var option = spec.Options.FirstOrDefault(o => o.Name == name)
                ?? throw new UsageException($"Unknown option '--{name}' for '{spec.Name}'; see 'cudai2v {spec.Name} --help'.");
            if (values.ContainsKey(name) && !option.Repeatable)
            {
                throw new UsageException($"Option '--{name}' is given twice.");
            }

            if (option.IsFlag)
            {
                if (inline is not null)
                {
                    throw new UsageException($"Option '--{name}' takes no value.");
                }

                values[name] = null;
                continue;
            }

            if (inline is null)
            {
                if (i + 1 >= args.Count)
                {
                    throw new UsageException($"Option '--{name}' needs a value <{option.ValueName}>.");
                }

                inline = args[++i];
            }

            values[name] = inline;
            if (option.Repeatable)
            {
                repeated.Add((name, inline));
            }
        }

        if (positionals.Count < (spec.RequiredPositionals ?? expected.Count))
        {
            throw new UsageException($"'{spec.Name}' needs <{expected[positionals.Count]}>; see 'cudai2v {spec.Name} --help'.");
        }

        foreach (var required in spec.Options.Where(o => o.Required && !values.ContainsKey(o.Name)))
        {
            throw new UsageException($"'{spec.Name}' needs --{required.Name} <{required.ValueName}>; see 'cudai2v {spec.Name} --help'.");
        }

        var parsed = new ParsedArgs(values);
        parsed._positionals.AddRange(positionals);
        foreach (var (name, value) in repeated)
        {
            (parsed._repeated.TryGetValue(name, out var list) ? list : parsed._repeated[name] = []).Add(value);
        }

        return parsed;
    }

    /// <summary>Every value of a repeatable option, in command-line order (empty when not given).</summary>
    public IReadOnlyList<string> GetAll(string name) => _repeated.TryGetValue(name, out var list) ? list : [];

    /// <summary>True when the option (or flag) was given.</summary>
    public bool Has(string name) => _values.ContainsKey(name);

    /// <summary>The option's value, or <paramref name="fallback"/>.</summary>
    public string? Get(string name, string? fallback = null) => _values.TryGetValue(name, out var v) ? v : fallback;

    /// <summary>The required option's value.</summary>
    public string Require(string name) => Get(name) ?? throw new UsageException($"--{name} is required.");

    /// <summary>An integer option within [min, max].</summary>
    public int GetInt32(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        var text = Get(name);
        if (text is null)
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new UsageException($"--{name} must be an integer from {min} to {max}, got '{text}'.");
        }

        return value;
    }

    /// <summary>A size option such as 24GiB (<see cref="ByteSize"/>), or null when not given.</summary>
    public long? GetByteSize(string name)
    {
        var text = Get(name);
        return text is null ? null
            : ByteSize.TryParse(text, out var bytes) ? bytes
            : throw new UsageException($"--{name} must be {ByteSize.Accepted}, got '{text}'.");
    }

    /// <summary>A floating-point option of 0 or more.</summary>
    public double GetNonNegativeDouble(string name, double fallback)
    {
        var text = Get(name);
        if (text is null)
        {
            return fallback;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !(value >= 0) || double.IsInfinity(value))
        {
            throw new UsageException($"--{name} must be a number of 0 or more, got '{text}'.");
        }

        return value;
    }

    /// <summary>An unsigned 64-bit option (a seed).</summary>
    public ulong GetUInt64(string name)
    {
        var text = Require(name);
        return ulong.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new UsageException($"--{name} must be an integer from 0 to {ulong.MaxValue}, got '{text}'.");
    }

    /// <summary>A positive floating-point option.</summary>
    public double GetPositiveDouble(string name, double fallback)
    {
        var text = Get(name);
        if (text is null)
        {
            return fallback;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !(value > 0) || double.IsInfinity(value))
        {
            throw new UsageException($"--{name} must be a positive number such as 1e-4, got '{text}'.");
        }

        return value;
    }

    /// <summary>The <c>--variant fp32|fp16</c> option: the weight files the user demands, or null to take the backend's default.</summary>
    public WeightVariant? Variant() =>
        Has("variant") ? (Choice("variant", "fp32", "fp32", "fp16") == "fp16" ? WeightVariant.Fp16 : WeightVariant.Fp32) : null;

    /// <summary>The words <c>--vae-precision</c> accepts.</summary>
    public static readonly string[] VaePrecisions = ["auto", "model", "fp32"];

    /// <summary>The <c>--vae-precision auto|model|fp32</c> option (auto when not given).</summary>
    public VaePrecision GetVaePrecision() => Choice("vae-precision", "auto", VaePrecisions) switch
    {
        "model" => VaePrecision.Model,
        "fp32" => VaePrecision.Fp32,
        _ => VaePrecision.Auto,
    };

    /// <summary>
    /// The <c>--dtype fp16|bf16</c> option (<c>fp16|bf16|fp32</c> with <paramref name="allowFp32"/>): the GPU's
    /// storage type, fp16 when not given.
    /// </summary>
    public DType GetGpuDType(bool allowFp32 = false) =>
        (allowFp32 ? Choice("dtype", "fp16", "fp16", "bf16", "fp32") : Choice("dtype", "fp16", "fp16", "bf16")) switch
        {
            "bf16" => DType.BF16,
            "fp32" => DType.F32,
            _ => DType.F16,
        };

    /// <summary>The <c>--attention gemm|flash</c> option: the GPU's attention implementation (<see cref="MatrixOpSet.ForAttention"/>).</summary>
    public string GetAttention() => Choice("attention", MatrixOpSet.DefaultAttention, [.. MatrixOpSet.AttentionNames]);

    /// <summary>One of the allowed words.</summary>
    public string Choice(string name, string fallback, params string[] allowed)
    {
        var text = Get(name) ?? fallback;
        return allowed.Contains(text)
            ? text
            : throw new UsageException($"--{name} must be one of {string.Join(", ", allowed)}, got '{text}'.");
    }
}
