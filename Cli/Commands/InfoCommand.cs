using System.Globalization;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Compilation;
using CudaI2V.Runtime.Cuda;

namespace CudaI2V.Cli.Commands;

/// <summary><c>cudai2v info</c>: the GPU side of this machine as CudaI2V sees it. Always exits 0: a missing piece is reported, not an error.</summary>
internal static class InfoCommand
{
    public static CommandSpec Spec { get; } = new(
        "info",
        "Show the CUDA driver, GPUs, NVRTC and cuBLAS versions, the libraries loaded and the cache folder.",
        "[--cache-dir <folder>]",
        [new OptionSpec("cache-dir", "folder", "The cache root to show.", Default: $"${CacheRoot.EnvironmentVariable}, else the user's cache folder")],
        Run,
        "Without an NVIDIA driver it says so, lists every place it looked, and still exits 0.\n"
        + "Libraries are searched in $CUDAI2V_CUDA_PATH first, then the CUDA toolkit folders, the system loader and pip's nvidia wheels.");

    private static int Run(ParsedArgs args, CliContext context)
    {
        var output = context.Out;
        var report = CudaSystemReport.Gather();
        WriteDriver(output, report);
        WriteLibraries(output, report);
        var cache = CacheRoot.Resolve(args.Get("cache-dir"));
        output.WriteLine($"cache root: {cache.Path} (compiled kernels in {Path.Combine(cache.Path, KernelCompiler.CacheArea)})");
        return ExitCodes.Success;
    }

    private static void WriteDriver(TextWriter output, CudaSystemReport report)
    {
        if (report.DriverVersion is not int version)
        {
            output.WriteLine($"CUDA driver: none. {Capitalise(report.DriverProblem ?? "not found")}; CudaI2V can only use the CPU here.");
            output.WriteLine("  looked in:");
            foreach (var place in report.DriverPlaces)
            {
                output.WriteLine($"    {place}");
            }

            return;
        }

        var kernelModule = KernelModuleVersion() is { } v ? $"driver {v}, " : "";
        output.WriteLine($"CUDA driver: {kernelModule}supports CUDA {FormatCudaVersion(version)}");
        if (report.DriverProblem is not null)
        {
            output.WriteLine($"  no usable GPU: {report.DriverProblem}");
        }

        foreach (var d in report.Devices)
        {
            output.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"  GPU {d.Ordinal}: {d.Name}, compute capability {d.Major}.{d.Minor} (sm_{d.Architecture}), {d.Multiprocessors} SMs, {d.TotalMemory / (1L << 20):N0} MiB, L2 {d.L2CacheBytes / (1 << 20)} MiB"));
        }
    }

    private static void WriteLibraries(TextWriter output, CudaSystemReport report)
    {
        if (report.NvrtcVersion is { } nvrtc)
        {
            var archs = report.NvrtcArchitectures.Count == 0 ? "(this NVRTC cannot list them)" : string.Join(" ", report.NvrtcArchitectures.Select(a => $"sm_{a}"));
            output.WriteLine($"NVRTC: {nvrtc.Major}.{nvrtc.Minor}, compiles for {archs}");
        }
        else
        {
            output.WriteLine($"NVRTC: none. {FirstLine(report.NvrtcProblem)}");
        }

        output.WriteLine(report.CublasVersion is { } cublas && report.CublasLtVersion is { } lt
            ? $"cuBLAS: {cublas}, cuBLASLt: {lt}"
            : $"cuBLAS: none. {FirstLine(report.BlasProblem)}");

        output.WriteLine("libraries loaded:");
        if (report.Libraries.Count == 0)
        {
            output.WriteLine("  (none)");
        }

        foreach (var library in report.Libraries)
        {
            output.WriteLine($"  {library.Name,-20} {library.Path} ({library.How})");
        }
    }

    /// <summary>"13.0" for 13000.</summary>
    internal static string FormatCudaVersion(int version) =>
        string.Create(CultureInfo.InvariantCulture, $"{version / 1000}.{version % 1000 / 10}");

    /// <summary>The NVIDIA kernel module's version ("580.65.06") where Linux shows it, else null.</summary>
    private static string? KernelModuleVersion()
    {
        const string Path = "/proc/driver/nvidia/version";
        try
        {
            if (!File.Exists(Path))
            {
                return null;
            }

            var words = File.ReadLines(Path).FirstOrDefault()?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];
            return words.FirstOrDefault(w => w.Contains('.', StringComparison.Ordinal) && w.All(c => char.IsAsciiDigit(c) || c == '.') && char.IsAsciiDigit(w[0]));
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string FirstLine(string? text) => (text ?? "not found").Split('\n')[0].Trim();

    private static string Capitalise(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];
}
