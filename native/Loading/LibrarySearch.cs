using System.Globalization;

namespace CudaI2V.Native.Loading;

/// <summary>
/// What a library search sees of the machine: the operating system, the environment, and a root that
/// well-known absolute folders (<c>/usr/local/cuda</c>, ...) are looked up under. The real machine uses
/// <see cref="Current"/>; tests build fake folder trees under a temporary root.
/// </summary>
/// <param name="IsWindows">Windows names and folders instead of Linux ones.</param>
/// <param name="Variable">Reads an environment variable (null when unset).</param>
/// <param name="FileSystemRoot">Prefix for the well-known absolute folders ("/" on the real machine).</param>
/// <param name="MaxCudaMajor">
/// The newest CUDA major version the driver supports, when known: toolkit libraries of a newer major version
/// (cuBLAS 13 under a CUDA 12 driver) are skipped. Null: no filter.
/// </param>
public sealed record SearchContext(bool IsWindows, Func<string, string?> Variable, string FileSystemRoot, int? MaxCudaMajor = null)
{
    /// <summary>This process's machine and environment.</summary>
    public static SearchContext Current(int? maxCudaMajor) =>
        new(OperatingSystem.IsWindows(), Environment.GetEnvironmentVariable, OperatingSystem.IsWindows() ? "" : "/", maxCudaMajor);

    /// <summary>A well-known absolute folder, under <see cref="FileSystemRoot"/>.</summary>
    internal string WellKnown(string absolute) =>
        FileSystemRoot is "" or "/" ? absolute : Path.Combine(FileSystemRoot, absolute.TrimStart('/', '\\'));
}

/// <summary>One file (or bare name for the system loader) to try, and why it is on the list.</summary>
/// <param name="PathOrName">A full path, or a bare file name handed to the system loader.</param>
/// <param name="Source">Where the search found it ("CUDAI2V_CUDA_PATH", "CUDA_PATH", "system loader", ...).</param>
public sealed record LibraryCandidate(string PathOrName, string Source)
{
    /// <summary>True when the system loader resolves the name (ld.so cache, LD_LIBRARY_PATH, PATH, System32).</summary>
    public bool ByName => !Path.IsPathRooted(PathOrName);
}

/// <summary>One step of a search, in order: a file to try, or a note about a place that offered none.</summary>
/// <param name="Candidate">The file to try, or null for a note.</param>
/// <param name="Note">What was seen at this place ("no such folder", "skipped, a stubs folder ..."), or null for a candidate.</param>
public sealed record SearchStep(LibraryCandidate? Candidate, string? Note);

/// <summary>The ordered steps of a search for one library.</summary>
/// <param name="Steps">Candidates and notes in search order.</param>
public sealed record SearchPlan(IReadOnlyList<SearchStep> Steps)
{
    /// <summary>The files to try, in order.</summary>
    public IReadOnlyList<LibraryCandidate> Candidates => [.. Steps.Where(s => s.Candidate is not null).Select(s => s.Candidate!)];

    /// <summary>The notes about places that offered nothing (missing, empty or skipped folders).</summary>
    public IReadOnlyList<string> Notes => [.. Steps.Where(s => s.Note is not null).Select(s => s.Note!)];
}

/// <summary>
/// The search order for the CUDA libraries, as a pure function of a <see cref="SearchContext"/>:
/// <list type="number">
/// <item><c>CUDAI2V_CUDA_PATH</c>: folders (separated like PATH), each with its <c>lib64</c>, <c>lib</c>,
/// <c>bin</c> and <c>bin/x64</c> sub-folders;</item>
/// <item>the driver only: the system loader, which knows the copy that matches the kernel module, then the
/// driver folders of GPU containers and WSL;</item>
/// <item>toolkit libraries: <c>CUDA_PATH</c>, <c>/usr/local/cuda/lib64</c>, <c>/usr/local/cuda-*/lib64</c>
/// (newest first), <c>/usr/local/nvidia/lib64</c> (Windows: the toolkit's <c>bin</c> folders under Program
/// Files), then the system loader, then pip's <c>site-packages/nvidia/*/lib</c> folders.</item>
/// </list>
/// Within a folder the newest name wins. A folder named <c>stubs</c> (the toolkit's link-time stand-ins, which
/// fail every call) is never searched, wherever it appears.
/// </summary>
public static class LibrarySearch
{
    /// <summary>The variable that points the search at a folder first.</summary>
    public const string OverrideVariable = "CUDAI2V_CUDA_PATH";

    /// <summary>Plans the search for <paramref name="library"/>.</summary>
    /// <param name="library">The library.</param>
    /// <param name="context">The machine.</param>
    /// <param name="preferredFolder">A folder searched right after the override (cuBLAS: where cuBLASLt was found).</param>
    /// <param name="requiredMajor">Only names of this CUDA major version (cuBLAS: cuBLASLt's version).</param>
    public static SearchPlan Plan(CudaLibrary library, SearchContext context, string? preferredFolder = null, int? requiredMajor = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        var names = CudaLibraryNames.For(library, context.IsWindows);
        var steps = new List<SearchStep>();
        void Note(string text) => steps.Add(new SearchStep(null, text));
        var seen = new HashSet<string>(context.IsWindows ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);

        void Folder(string folder, string source)
        {
            if (!seen.Add(Path.TrimEndingDirectorySeparator(folder)))
            {
                return;
            }

            if (IsStubs(folder))
            {
                Note($"{folder} ({source}): skipped, a stubs folder holds link-time stand-ins only");
                return;
            }

            if (!Directory.Exists(folder))
            {
                Note($"{folder} ({source}): no such folder");
                return;
            }

            var found = 0;
            foreach (var name in names)
            {
                var path = Path.Combine(folder, name);
                if (!File.Exists(path))
                {
                    continue;
                }

                if (Rejection(name, context, requiredMajor) is { } why)
                {
                    Note($"{path} ({source}): skipped, {why}");
                    continue;
                }

                if (IsStubs(ResolveLinks(path)))
                {
                    Note($"{path} ({source}): skipped, it links into a stubs folder");
                    continue;
                }

                steps.Add(new SearchStep(new LibraryCandidate(path, source), null));
                found++;
            }

            if (found == 0)
            {
                Note($"{folder} ({source}): none of {string.Join(", ", names)}");
            }
        }

        void SystemLoader()
        {
            var source = context.IsWindows ? "system loader: PATH, System32" : "system loader: LD_LIBRARY_PATH, ld.so.cache";
            foreach (var name in names)
            {
                if (Rejection(name, context, requiredMajor) is { } why)
                {
                    Note($"{name} ({source}): skipped, {why}");
                }
                else
                {
                    steps.Add(new SearchStep(new LibraryCandidate(name, source), null));
                }
            }
        }

        var overrideValue = context.Variable(OverrideVariable);
        if (string.IsNullOrWhiteSpace(overrideValue))
        {
            Note($"{OverrideVariable}: not set");
        }
        else
        {
            foreach (var root in overrideValue.Split(context.IsWindows ? ';' : ':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                foreach (var folder in WithLibrarySubfolders(root, context.IsWindows))
                {
                    Folder(folder, OverrideVariable);
                }
            }
        }

        if (preferredFolder is not null)
        {
            Folder(preferredFolder, "beside cuBLASLt");
        }

        if (library == CudaLibrary.Driver)
        {
            SystemLoader();
            if (!context.IsWindows)
            {
                Folder(context.WellKnown("/usr/local/nvidia/lib64"), "GPU container driver folder");
                Folder(context.WellKnown("/usr/lib/wsl/lib"), "WSL driver folder");
            }

            return new SearchPlan(steps);
        }

        foreach (var (folder, source) in ToolkitFolders(context))
        {
            Folder(folder, source);
        }

        SystemLoader();
        foreach (var folder in PipFolders(context))
        {
            Folder(folder, "pip wheel");
        }

        return new SearchPlan(steps);
    }

    /// <summary>True when any segment of <paramref name="path"/> is <c>stubs</c>.</summary>
    public static bool IsStubs(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return path.Split('/', '\\').Any(s => s.Equals("stubs", StringComparison.OrdinalIgnoreCase));
    }

    private static string? Rejection(string name, SearchContext context, int? requiredMajor)
    {
        var major = CudaLibraryNames.MajorVersion(name);
        if (requiredMajor is int required && major is int m && m != required)
        {
            return $"CUDA {m} does not match the loaded cuBLASLt (CUDA {required})";
        }

        if (context.MaxCudaMajor is int max && major is int n && n > max)
        {
            return $"CUDA {n} is newer than the driver supports (CUDA {max})";
        }

        return null;
    }

    private static IEnumerable<string> WithLibrarySubfolders(string root, bool windows)
    {
        yield return root;
        if (windows)
        {
            yield return Path.Combine(root, "bin", "x64");
            yield return Path.Combine(root, "bin");
        }
        else
        {
            yield return Path.Combine(root, "lib64");
            yield return Path.Combine(root, "lib");
        }
    }

    private static IEnumerable<(string Folder, string Source)> ToolkitFolders(SearchContext context)
    {
        if (context.Variable("CUDA_PATH") is { Length: > 0 } cudaPath)
        {
            foreach (var folder in WithLibrarySubfolders(cudaPath, context.IsWindows).Skip(1))
            {
                yield return (folder, "CUDA_PATH");
            }
        }

        if (context.IsWindows)
        {
            var programFiles = context.Variable("ProgramFiles") ?? @"C:\Program Files";
            var toolkits = Path.Combine(programFiles, "NVIDIA GPU Computing Toolkit", "CUDA");
            foreach (var version in NewestFirst(toolkits, "v*"))
            {
                yield return (Path.Combine(version, "bin", "x64"), "CUDA toolkit");
                yield return (Path.Combine(version, "bin"), "CUDA toolkit");
            }

            yield break;
        }

        yield return (context.WellKnown("/usr/local/cuda/lib64"), "CUDA toolkit");
        foreach (var version in NewestFirst(context.WellKnown("/usr/local"), "cuda-*"))
        {
            yield return (Path.Combine(version, "lib64"), "CUDA toolkit");
        }

        yield return (context.WellKnown("/usr/local/nvidia/lib64"), "GPU container folder");
    }

    /// <summary>site-packages/nvidia/&lt;package&gt;/lib (bin on Windows) of the Python environments we know of.</summary>
    private static IEnumerable<string> PipFolders(SearchContext context)
    {
        var sitePackages = new List<string>();
        foreach (var prefix in new[] { context.Variable("VIRTUAL_ENV"), context.Variable("CONDA_PREFIX") })
        {
            if (string.IsNullOrWhiteSpace(prefix))
            {
                continue;
            }

            if (context.IsWindows)
            {
                sitePackages.Add(Path.Combine(prefix, "Lib", "site-packages"));
            }
            else
            {
                sitePackages.AddRange(PythonFolders(Path.Combine(prefix, "lib"), "site-packages"));
            }
        }

        if (!context.IsWindows)
        {
            sitePackages.AddRange(PythonFolders(context.WellKnown("/usr/local/lib"), "site-packages", "dist-packages"));
            sitePackages.Add(context.WellKnown("/usr/lib/python3/dist-packages"));
            if (context.Variable("HOME") is { Length: > 0 } home)
            {
                sitePackages.AddRange(PythonFolders(Path.Combine(home, ".local", "lib"), "site-packages"));
            }
        }

        foreach (var packages in sitePackages)
        {
            var nvidia = Path.Combine(packages, "nvidia");
            if (!Directory.Exists(nvidia))
            {
                continue;
            }

            // CUDA 12 wheels: nvidia/<library>/lib; CUDA 13 wheels: nvidia/cu13/lib.
            foreach (var package in Directory.GetDirectories(nvidia).Order(StringComparer.Ordinal))
            {
                yield return Path.Combine(package, context.IsWindows ? "bin" : "lib");
            }
        }
    }

    private static IEnumerable<string> PythonFolders(string lib, params string[] kinds)
    {
        foreach (var python in NewestFirst(lib, "python3*"))
        {
            foreach (var kind in kinds)
            {
                yield return Path.Combine(python, kind);
            }
        }
    }

    /// <summary>Sub-folders matching <paramref name="pattern"/>, highest version number first (cuda-12.10 before cuda-12.9).</summary>
    private static IEnumerable<string> NewestFirst(string folder, string pattern)
    {
        if (!Directory.Exists(folder))
        {
            return [];
        }

        return Directory.GetDirectories(folder, pattern)
            .OrderByDescending(d => VersionKey(Path.GetFileName(d)), Comparer<Version>.Default)
            .ThenBy(d => d, StringComparer.Ordinal);
    }

    private static Version VersionKey(string name)
    {
        var digits = new string(name.SkipWhile(c => !char.IsAsciiDigit(c)).TakeWhile(c => char.IsAsciiDigit(c) || c == '.').ToArray()).Trim('.');
        var parts = digits.Split('.', StringSplitOptions.RemoveEmptyEntries).Take(4)
            .Select(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : 0).ToList();
        while (parts.Count < 2)
        {
            parts.Add(0);
        }

        return parts.Count switch
        {
            2 => new Version(parts[0], parts[1]),
            3 => new Version(parts[0], parts[1], parts[2]),
            _ => new Version(parts[0], parts[1], parts[2], parts[3]),
        };
    }

    private static string ResolveLinks(string path)
    {
        try
        {
            return new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path;
        }
        catch (IOException)
        {
            return path;
        }
    }
}
