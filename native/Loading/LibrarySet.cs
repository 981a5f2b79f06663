namespace CudaI2V.Native.Loading;

/// <summary>A file the process loaded, and how it was found.</summary>
/// <param name="Name">The file's stem ("libnvrtc", "libnvrtc-builtins", "nvcuda").</param>
/// <param name="Path">The full path (or, where the system loader cannot say, the name it was given).</param>
/// <param name="How">The search step that found it ("CUDA toolkit", "system loader", "companion of libnvrtc.so.11.2").</param>
public sealed record LoadedLibrary(string Name, string Path, string How);

/// <summary>The outcome of looking for one library.</summary>
/// <param name="Library">The library.</param>
/// <param name="Handle">The native handle, or 0 when nothing loaded.</param>
/// <param name="Path">The file that loaded, or null.</param>
/// <param name="Places">Every place looked, and every file that existed but failed to load (with the loader's error).</param>
public sealed record LibraryResolution(CudaLibrary Library, nint Handle, string? Path, IReadOnlyList<string> Places)
{
    /// <summary>True when the library loaded.</summary>
    public bool Found => Handle != 0;
}

/// <summary>Loads native libraries; the process uses the OS loader, tests a fake.</summary>
internal interface INativeLoader
{
    /// <summary>Loads a full path or a bare name; on failure returns false and the loader's message.</summary>
    bool TryLoad(string pathOrName, out nint handle, out string error);

    /// <summary>The full path of a library the system loader found by <paramref name="name"/>, when it can tell.</summary>
    string? LoadedPath(string name);
}

/// <summary>
/// The libraries of one process (or one test): each found once by <see cref="LibrarySearch"/> and kept. cuBLASLt is
/// loaded before cuBLAS, from the folder cuBLAS then comes from (libcublas needs libcublasLt at load time, and two
/// copies of different versions must never mix); NVRTC's builtins library is loaded from NVRTC's own folder first.
/// </summary>
internal sealed class LibrarySet(Func<SearchContext> context, INativeLoader loader)
{
    private readonly Dictionary<CudaLibrary, LibraryResolution> _resolved = [];
    private readonly List<LoadedLibrary> _loaded = [];
    private readonly Lock _gate = new();

    /// <summary>Everything loaded so far, in load order, companions included.</summary>
    public IReadOnlyList<LoadedLibrary> Loaded
    {
        get
        {
            lock (_gate)
            {
                return [.. _loaded];
            }
        }
    }

    /// <summary>Finds and loads <paramref name="library"/> (once; later calls return the first outcome).</summary>
    public LibraryResolution Load(CudaLibrary library)
    {
        lock (_gate)
        {
            return LoadLocked(library);
        }
    }

    private LibraryResolution LoadLocked(CudaLibrary library)
    {
        if (_resolved.TryGetValue(library, out var known))
        {
            return known;
        }

        string? preferred = null;
        int? major = null;
        var places = new List<string>();
        if (library == CudaLibrary.Cublas)
        {
            var lt = LoadLocked(CudaLibrary.CublasLt);
            if (!lt.Found)
            {
                places.Add("cuBLASLt, which cuBLAS needs at load time, was not found");
            }
            else if (lt.Path is { } ltPath)
            {
                preferred = System.IO.Path.IsPathRooted(ltPath) ? System.IO.Path.GetDirectoryName(ltPath) : null;
                major = CudaLibraryNames.MajorVersion(System.IO.Path.GetFileName(ltPath));
            }
        }

        var result = Search(library, preferred, major, places);
        _resolved[library] = result;
        return result;
    }

    private LibraryResolution Search(CudaLibrary library, string? preferred, int? major, List<string> places)
    {
        var ctx = context();
        var plan = LibrarySearch.Plan(library, ctx, preferred, major);
        foreach (var step in plan.Steps)
        {
            if (step.Candidate is not { } candidate)
            {
                places.Add(step.Note!);
                continue;
            }

            LoadCompanion(library, candidate, ctx.IsWindows);
            if (loader.TryLoad(candidate.PathOrName, out var handle, out var error))
            {
                var path = candidate.ByName ? loader.LoadedPath(candidate.PathOrName) ?? candidate.PathOrName : candidate.PathOrName;
                if (LibrarySearch.IsStubs(path))
                {
                    // The system loader's answer can only be checked after the fact.
                    places.Add($"{path} ({candidate.Source}): loaded but it is a stubs library; ignored");
                    continue;
                }

                _loaded.Add(new LoadedLibrary(Stem(path), path, candidate.Source));
                return new LibraryResolution(library, handle, path, places);
            }

            places.Add(candidate.ByName
                ? $"{candidate.PathOrName} ({candidate.Source}): {FirstLine(error)}"
                : $"{candidate.PathOrName} ({candidate.Source}): exists but did not load: {FirstLine(error)}");
        }

        return new LibraryResolution(library, 0, null, places);
    }

    private void LoadCompanion(CudaLibrary library, LibraryCandidate candidate, bool windows)
    {
        var fileName = System.IO.Path.GetFileName(candidate.PathOrName);
        if (candidate.ByName || CudaLibraryNames.CompanionPrefix(library, fileName, windows) is not { } prefix)
        {
            return;
        }

        var folder = System.IO.Path.GetDirectoryName(candidate.PathOrName)!;
        // The shortest matching name is the soname-level one (libnvrtc-builtins.so.11.8, not .so.11.8.89).
        var companion = Directory.EnumerateFiles(folder, prefix + "*")
            .OrderBy(p => p.Length).ThenBy(p => p, StringComparer.Ordinal).FirstOrDefault();
        if (companion is not null && loader.TryLoad(companion, out _, out _))
        {
            _loaded.Add(new LoadedLibrary(Stem(companion), companion, $"companion of {fileName}"));
        }
    }

    private static string Stem(string path)
    {
        var name = System.IO.Path.GetFileName(path);
        var so = name.IndexOf(".so", StringComparison.Ordinal);
        return so > 0 ? name[..so] : System.IO.Path.GetFileNameWithoutExtension(name);
    }

    private static string FirstLine(string text)
    {
        var trimmed = text.Trim();
        var newline = trimmed.IndexOf('\n', StringComparison.Ordinal);
        return newline < 0 ? trimmed : trimmed[..newline].TrimEnd();
    }
}
