using System.Text;
using CudaI2V.Native.Loading;

namespace CudaI2V.Native.Errors;

/// <summary>A CUDA library could not be found or loaded; the message lists every place looked.</summary>
public sealed class CudaLibraryNotFoundException : Exception
{
    /// <summary>Creates the exception from a failed search.</summary>
    public CudaLibraryNotFoundException(LibraryResolution resolution)
        : base(Format(resolution ?? throw new ArgumentNullException(nameof(resolution))))
    {
        Library = resolution.Library;
        Places = resolution.Places;
    }

    /// <summary>Creates the exception with a message.</summary>
    public CudaLibraryNotFoundException(string message)
        : base(message)
    {
        Places = [];
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public CudaLibraryNotFoundException(string message, Exception innerException)
        : base(message, innerException)
    {
        Places = [];
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public CudaLibraryNotFoundException()
        : this("A CUDA library was not found.")
    {
    }

    /// <summary>The library that was not found.</summary>
    public CudaLibrary Library { get; }

    /// <summary>Every place looked, one line each.</summary>
    public IReadOnlyList<string> Places { get; }

    /// <summary>The one-line summary: "the CUDA driver (libcuda.so.1) was not found".</summary>
    public static string Headline(CudaLibrary library)
    {
        var names = string.Join(" / ", CudaLibraryNames.For(library, OperatingSystem.IsWindows()).Take(3));
        var what = library switch
        {
            CudaLibrary.Driver => "the CUDA driver",
            CudaLibrary.Nvrtc => "NVRTC, the CUDA run-time compiler,",
            CudaLibrary.Cublas => "cuBLAS",
            _ => "cuBLASLt",
        };
        return $"{what} ({names}) was not found";
    }

    private static string Format(LibraryResolution resolution)
    {
        var sb = new StringBuilder();
        sb.Append(Headline(resolution.Library)).AppendLine(". Looked in:");
        foreach (var place in resolution.Places)
        {
            sb.Append("  ").AppendLine(place);
        }

        sb.Append(resolution.Library == CudaLibrary.Driver
            ? "Install the NVIDIA driver, or set "
            : "Install the CUDA toolkit (or the pip wheel nvidia-*-cu12/cu13), or set ");
        sb.Append(LibrarySearch.OverrideVariable).Append(" to the folder that holds it.");
        return sb.ToString();
    }
}
