namespace CudaI2V.Native.Errors;

/// <summary>
/// NVRTC refused a kernel source. The message holds the kernel, the options and NVRTC's whole log, which
/// names the file, the line and the error, so the exception alone is enough to fix the source.
/// </summary>
public sealed class NvrtcCompileException : CudaException
{
    /// <summary>Creates the exception for a failed compilation.</summary>
    /// <param name="kernel">The program's name (its file name, e.g. <c>Fill.cu</c>).</param>
    /// <param name="options">The options NVRTC was given.</param>
    /// <param name="log">NVRTC's compile log.</param>
    /// <param name="code">The nvrtcResult.</param>
    /// <param name="errorName">NVRTC's name for it (<c>NVRTC_ERROR_COMPILATION</c>).</param>
    public NvrtcCompileException(string kernel, IReadOnlyList<string> options, string log, int code, string errorName)
        : base(Format(kernel, options, log, errorName), "NVRTC", "nvrtcCompileProgram", code, errorName, errorName, kernel)
    {
        Options = options;
        Log = log;
    }

    /// <summary>Creates the exception with a message only.</summary>
    public NvrtcCompileException(string message)
        : base(message)
    {
        Options = [];
        Log = "";
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public NvrtcCompileException(string message, Exception innerException)
        : base(message, innerException)
    {
        Options = [];
        Log = "";
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public NvrtcCompileException()
        : this("NVRTC could not compile a kernel.")
    {
    }

    /// <summary>The options NVRTC was given.</summary>
    public IReadOnlyList<string> Options { get; }

    /// <summary>NVRTC's whole compile log.</summary>
    public string Log { get; }

    private static string Format(string kernel, IReadOnlyList<string> options, string log, string errorName) =>
        $"NVRTC could not compile {kernel} ({errorName}) with options [{string.Join(' ', options)}]:{Environment.NewLine}{log.TrimEnd()}";
}
