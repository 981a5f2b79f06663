using System.Reflection;
using System.Runtime.InteropServices;
using CudaI2V.Native.Errors;

namespace CudaI2V.Native.Loading;

/// <summary>
/// The process's one resolver for CudaI2V's <c>[LibraryImport]</c> declarations: each library is found once by
/// <see cref="LibrarySearch"/> the first time it is needed, and what loaded (or every place looked) is kept for
/// reports such as <c>cudai2v info</c>.
/// </summary>
public static class NativeLibraries
{
    private static readonly Lock Gate = new();
    private static readonly LibrarySet Libraries = new(() => SearchContext.Current(MaxCudaMajor), new OsLoader());
    private static bool _installed;

    /// <summary>
    /// The newest CUDA major version the driver supports, once known (set by whoever reads the driver version):
    /// toolkit libraries found later that are newer than this are skipped, since they would not run.
    /// </summary>
    public static int? MaxCudaMajor { get; set; }

    /// <summary>Every file loaded so far, in load order, with its path and how it was found.</summary>
    public static IReadOnlyList<LoadedLibrary> Loaded => Libraries.Loaded;

    /// <summary>Finds and loads <paramref name="library"/> if not done yet; the result says where it came from or where we looked.</summary>
    public static LibraryResolution Load(CudaLibrary library)
    {
        EnsureResolver();
        return Libraries.Load(library);
    }

    /// <summary>Loads <paramref name="library"/> or throws <see cref="CudaLibraryNotFoundException"/> listing every place looked.</summary>
    public static void Require(CudaLibrary library)
    {
        var result = Load(library);
        if (!result.Found)
        {
            throw new CudaLibraryNotFoundException(result);
        }
    }

    /// <summary>Registers the resolver for this assembly (once; the raw API classes call it before their first import).</summary>
    internal static void EnsureResolver()
    {
        lock (Gate)
        {
            if (!_installed)
            {
                NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);
                _installed = true;
            }
        }
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        CudaLibraryNames.FromImportName(libraryName) is { } library ? Libraries.Load(library).Handle : 0;

    private sealed class OsLoader : INativeLoader
    {
        public bool TryLoad(string pathOrName, out nint handle, out string error)
        {
            try
            {
                // NativeLibrary.Load(string) hands the name or path to dlopen/LoadLibrary as it is (no probing).
                handle = NativeLibrary.Load(pathOrName);
                error = "";
                return true;
            }
            catch (DllNotFoundException e)
            {
                handle = 0;
                error = Shorten(e.Message, pathOrName);
                return false;
            }
            catch (BadImageFormatException e)
            {
                handle = 0;
                error = e.Message;
                return false;
            }
        }

        public string? LoadedPath(string name)
        {
            if (!OperatingSystem.IsLinux())
            {
                return null;
            }

            // Which file did dlopen("libcuda.so.1") map? The process's memory map knows.
            var stem = "/" + name[..(name.IndexOf(".so", StringComparison.Ordinal) is var i and > 0 ? i + 3 : name.Length)];
            try
            {
                foreach (var line in File.ReadLines("/proc/self/maps"))
                {
                    var slash = line.IndexOf('/', StringComparison.Ordinal);
                    if (slash >= 0 && line.AsSpan(slash).Contains(stem, StringComparison.Ordinal))
                    {
                        return line[slash..];
                    }
                }
            }
            catch (IOException)
            {
            }

            return null;
        }

        /// <summary>.NET's message repeats the name and adds advice about probing; keep the loader's own reason.</summary>
        private static string Shorten(string message, string name)
        {
            var marker = name + ": ";
            var at = message.LastIndexOf(marker, StringComparison.Ordinal);
            return at >= 0 ? message[(at + marker.Length)..].Trim() : message;
        }
    }
}
