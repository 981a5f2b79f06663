namespace CudaI2V.Native.Loading;

/// <summary>The four NVIDIA libraries CudaI2V binds.</summary>
public enum CudaLibrary
{
    /// <summary>The CUDA driver API (<c>libcuda.so.1</c>, <c>nvcuda.dll</c>), installed with the GPU driver.</summary>
    Driver,

    /// <summary>The run-time compiler (<c>libnvrtc.so.N</c>, <c>nvrtc64_NNN_0.dll</c>).</summary>
    Nvrtc,

    /// <summary>cuBLAS (<c>libcublas.so.N</c>, <c>cublas64_N.dll</c>); it needs cuBLASLt loaded first.</summary>
    Cublas,

    /// <summary>cuBLASLt (<c>libcublasLt.so.N</c>, <c>cublasLt64_N.dll</c>).</summary>
    CublasLt,
}

/// <summary>File names of the <see cref="CudaLibrary"/> values, newest CUDA first.</summary>
public static class CudaLibraryNames
{
    /// <summary>
    /// The names the <c>[LibraryImport]</c> declarations use. They match no real file, so when our resolver finds
    /// nothing the runtime's default probing cannot pick up a wrong copy (such as a toolkit's <c>stubs/libcuda.so</c>).
    /// </summary>
    internal const string DriverImport = "cudai2v-cuda-driver";

    internal const string NvrtcImport = "cudai2v-nvrtc";

    internal const string CublasImport = "cudai2v-cublas";

    internal const string CublasLtImport = "cudai2v-cublaslt";

    /// <summary>The library an import name stands for, or null for a name that is not ours.</summary>
    internal static CudaLibrary? FromImportName(string name) => name switch
    {
        DriverImport => CudaLibrary.Driver,
        NvrtcImport => CudaLibrary.Nvrtc,
        CublasImport => CudaLibrary.Cublas,
        CublasLtImport => CudaLibrary.CublasLt,
        _ => null,
    };

    /// <summary>
    /// Candidate file names, newest CUDA major version first and the unversioned development name last. Linux
    /// sonames carry the major version (NVRTC 11.2-11.8 all use <c>libnvrtc.so.11.2</c>); Windows names carry it
    /// in the file name (<c>nvrtc64_120_0.dll</c> serves every CUDA 12.x).
    /// </summary>
    public static IReadOnlyList<string> For(CudaLibrary library, bool windows) => (library, windows) switch
    {
        (CudaLibrary.Driver, false) => ["libcuda.so.1"],
        (CudaLibrary.Driver, true) => ["nvcuda.dll"],
        (CudaLibrary.Nvrtc, false) => ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so.11.1", "libnvrtc.so.11.0", "libnvrtc.so"],
        (CudaLibrary.Nvrtc, true) => ["nvrtc64_130_0.dll", "nvrtc64_120_0.dll", "nvrtc64_112_0.dll", "nvrtc64_111_0.dll", "nvrtc64_110_0.dll"],
        (CudaLibrary.Cublas, false) => ["libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"],
        (CudaLibrary.Cublas, true) => ["cublas64_13.dll", "cublas64_12.dll", "cublas64_11.dll"],
        (CudaLibrary.CublasLt, false) => ["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11", "libcublasLt.so"],
        (CudaLibrary.CublasLt, true) => ["cublasLt64_13.dll", "cublasLt64_12.dll", "cublasLt64_11.dll"],
        _ => throw new ArgumentOutOfRangeException(nameof(library), library, "Unknown CUDA library."),
    };

    /// <summary>
    /// The prefix of a helper library loaded from the same folder before <paramref name="fileName"/>, or null:
    /// NVRTC opens its builtins library by soname at compile time (<c>libnvrtc-builtins.so.11.8</c>), which the
    /// system loader would not find in a folder outside its search path.
    /// </summary>
    public static string? CompanionPrefix(CudaLibrary library, string fileName, bool windows)
    {
        if (library != CudaLibrary.Nvrtc || MajorVersion(fileName) is not int major)
        {
            return null;
        }

        return windows ? $"nvrtc-builtins64_{major}" : $"libnvrtc-builtins.so.{major}";
    }

    /// <summary>
    /// The CUDA major version a file name carries: <c>libnvrtc.so.11.2</c> 11, <c>libcublas.so.13</c> 13,
    /// <c>nvrtc64_120_0.dll</c> 12, <c>cublasLt64_12.dll</c> 12; null for an unversioned name or the driver.
    /// </summary>
    public static int? MajorVersion(string fileName)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        if (fileName.StartsWith("libcuda.", StringComparison.Ordinal) || fileName.Equals("nvcuda.dll", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var so = fileName.IndexOf(".so.", StringComparison.Ordinal);
        if (so >= 0)
        {
            var rest = fileName[(so + 4)..];
            var dot = rest.IndexOf('.', StringComparison.Ordinal);
            return int.TryParse(dot < 0 ? rest : rest[..dot], out var v) ? v : null;
        }

        // Windows: the digits after the first underscore; three of them ("120") are major and minor.
        var underscore = fileName.IndexOf('_', StringComparison.Ordinal);
        if (underscore < 0 || !fileName.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var digits = new string(fileName[(underscore + 1)..].TakeWhile(char.IsAsciiDigit).ToArray());
        return digits.Length switch
        {
            2 => int.Parse(digits, System.Globalization.CultureInfo.InvariantCulture),
            3 => int.Parse(digits, System.Globalization.CultureInfo.InvariantCulture) / 10,
            _ => null,
        };
    }
}
