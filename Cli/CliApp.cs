using System.Reflection;
using System.Text;
using CudaI2V.Cli.Commands;
using CudaI2V.Loader;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Pipeline.Output;
using CudaI2V.Runtime.Memory;

namespace CudaI2V.Cli;

/// <summary>The <c>cudai2v</c> tool: dispatches to a command and maps failures to exit codes.</summary>
public static class CliApp
{
    /// <summary>The exit-code table every help text ends with.</summary>
    public const string ExitCodeHelp =
        "Exit codes: 0 success, 1 a check that ran and failed, 2 a usage error, 3 bad input or model files, or no usable GPU.";

    /// <summary>Every command, in help order.</summary>
    public static IReadOnlyList<CommandSpec> Commands { get; } = [GenerateCommand.Spec, ServeCommand.Spec, InspectCommand.Spec, VerifyCommand.Spec, TokenizeCommand.Spec, InfoCommand.Spec, BenchCommand.Spec, PlanCommand.Spec];

    /// <summary>The tool's version and the commit it was built from ("0.1.0+3f2a9c1d4e5b").</summary>
    public static string Version { get; } = ReadVersion();

    /// <summary>Runs the tool with <paramref name="args"/>; returns the exit code.</summary>
    public static int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr) => Run(args, stdout, stderr, CancellationToken.None);

    /// <summary>Runs the tool with <paramref name="args"/>; <paramref name="cancellation"/> stops a long command (as Ctrl+C does).</summary>
    public static int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(args);
        var context = new CliContext(stdout, stderr, cancellation);
        if (args.Count == 0 || args[0] is "--help" or "-h" or "help")
        {
            if (args.Count > 1 && args[0] == "help")
            {
                return Run([args[1], "--help"], stdout, stderr, cancellation);
            }

            stdout.Write(GeneralHelp());
            return args.Count == 0 ? ExitCodes.Usage : ExitCodes.Success;
        }

        if (args[0] is "--version" or "version")
        {
            stdout.WriteLine($"cudai2v {Version}");
            return ExitCodes.Success;
        }

        var spec = Commands.FirstOrDefault(c => c.Name == args[0]);
        if (spec is null)
        {
            stderr.WriteLine($"cudai2v: unknown command '{args[0]}'. Commands: {string.Join(", ", Commands.Select(c => c.Name))}; see 'cudai2v --help'.");
            return ExitCodes.Usage;
        }

        try
        {
            var parsed = ParsedArgs.Parse(spec, args.Skip(1).ToList());
            if (parsed.HelpRequested)
            {
                stdout.Write(spec.Help());
                return ExitCodes.Success;
            }

            return spec.Run(parsed, context);
        }
        catch (Exception e) when (e is UsageException or OutputPathException)
        {
            stderr.WriteLine($"cudai2v {spec.Name}: {e.Message}");
            return ExitCodes.Usage;
        }
        catch (ModelFileException e)
        {
            stderr.WriteLine($"cudai2v {spec.Name}: {e.Message}");
            return ExitCodes.BadInput;
        }
        catch (Exception e) when (e is ImageInputException or VideoOutputException or NoGpuException or ArenaOutOfMemoryException or IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"cudai2v {spec.Name}: {e.Message}");
            return ExitCodes.BadInput;
        }
    }

    private static string ReadVersion()
    {
        var assembly = typeof(CliApp).Assembly;
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
        var commit = assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "Commit")?.Value;
        return version.Contains('+', StringComparison.Ordinal) || commit is null ? version : $"{version}+{commit}";
    }

    /// <summary>The tool's overview.</summary>
    public static string GeneralHelp()
    {
        var sb = new StringBuilder();
        sb.AppendLine("cudai2v: I2VGen-XL image-to-video inference, hand-built on CUDA (with a CPU reference backend).");
        sb.AppendLine();
        sb.AppendLine("Usage: cudai2v <command> [options]");
        sb.AppendLine();
        sb.AppendLine("Commands:");
        var width = Commands.Max(c => c.Name.Length) + 2;
        foreach (var command in Commands)
        {
            sb.Append("  ").Append(command.Name.PadRight(width)).AppendLine(command.Summary);
        }

        sb.AppendLine();
        sb.AppendLine("Run 'cudai2v <command> --help' for a command's options, 'cudai2v --version' for the version.");
        sb.AppendLine("--model accepts a whole diffusers pipeline folder (with model_index.json, e.g. a download of");
        sb.AppendLine("ali-vilab/i2vgen-xl) or one component's folder (e.g. its unet/).");
        sb.AppendLine();
        sb.AppendLine(ExitCodeHelp);
        return sb.ToString();
    }
}
