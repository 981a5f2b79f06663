namespace CudaI2V.Native.Errors;

/// <summary>
/// A CUDA driver, NVRTC, cuBLAS or cuBLASLt call returned an error. The message names the API and the library's
/// own error name and text, e.g. <c>cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory)</c>; with
/// <see cref="Kernel"/> set (a launch, or a synchronisation after one) it starts with the kernel's name.
/// </summary>
public class CudaException : Exception
{
    /// <summary>Creates the exception for a failed call.</summary>
    /// <param name="library">"CUDA driver", "NVRTC", "cuBLAS" or "cuBLASLt".</param>
    /// <param name="call">The call's source text, e.g. <c>DriverApi.cuMemAlloc_v2(out var p, bytes)</c>.</param>
    /// <param name="code">The numeric status.</param>
    /// <param name="errorName">The library's name for it (<c>CUDA_ERROR_OUT_OF_MEMORY</c>).</param>
    /// <param name="errorString">The library's description (<c>out of memory</c>).</param>
    /// <param name="kernel">The kernel involved, when known.</param>
    public CudaException(string library, string call, int code, string errorName, string errorString, string? kernel = null)
        : this(Format(ApiName(call), code, errorName, errorString, kernel), library, call, code, errorName, errorString, kernel)
    {
    }

    /// <summary>Creates the exception with its own message (for derived exceptions).</summary>
    protected CudaException(string message, string library, string call, int code, string errorName, string errorString, string? kernel)
        : base(message)
    {
        Library = library;
        Call = call;
        Api = ApiName(call);
        Code = code;
        ErrorName = errorName;
        ErrorString = errorString;
        Kernel = kernel;
    }

    /// <summary>Creates the exception with a message only.</summary>
    public CudaException(string message)
        : base(message)
    {
        Library = Call = Api = ErrorName = ErrorString = "";
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public CudaException(string message, Exception innerException)
        : base(message, innerException)
    {
        Library = Call = Api = ErrorName = ErrorString = "";
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public CudaException()
        : this("A CUDA call failed.")
    {
    }

    /// <summary>The library: "CUDA driver", "NVRTC", "cuBLAS" or "cuBLASLt".</summary>
    public string Library { get; }

    /// <summary>The API function, e.g. <c>cuMemAlloc_v2</c>.</summary>
    public string Api { get; }

    /// <summary>The call's source text.</summary>
    public string Call { get; }

    /// <summary>The numeric status (CUresult, nvrtcResult or cublasStatus_t).</summary>
    public int Code { get; }

    /// <summary>The library's name for the status, e.g. <c>CUDA_ERROR_OUT_OF_MEMORY</c>.</summary>
    public string ErrorName { get; }

    /// <summary>The library's description of the status, e.g. <c>out of memory</c>.</summary>
    public string ErrorString { get; }

    /// <summary>The kernel involved (a launch, or the synchronisation after it), or null.</summary>
    public string? Kernel { get; }

    /// <summary>The API name in a call's source text: <c>DriverApi.cuMemAlloc_v2(out p, n)</c> gives <c>cuMemAlloc_v2</c>.</summary>
    public static string ApiName(string call)
    {
        ArgumentNullException.ThrowIfNull(call);
        var open = call.IndexOf('(', StringComparison.Ordinal);
        var head = open < 0 ? call : call[..open];
        return head[(head.LastIndexOf('.') + 1)..].Trim();
    }

    private static string Format(string api, int code, string errorName, string errorString, string? kernel)
    {
        var name = string.IsNullOrEmpty(errorName) ? $"error {code}" : errorName;
        var text = string.IsNullOrEmpty(errorString) || errorString == errorName ? "" : $" ({errorString})";
        var prefix = kernel is null ? "" : $"kernel {kernel}: ";
        return $"{prefix}{api} failed: {name}{text}";
    }
}
