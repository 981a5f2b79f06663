using System.Runtime.InteropServices;
using CudaI2V.Native.Loading;

namespace CudaI2V.Native.Nvrtc;

/// <summary>nvrtcResult (nvrtc.h): the values our code branches on.</summary>
internal enum NvrtcResult
{
    Success = 0,
    Compilation = 6,
}

/// <summary>
/// Raw NVRTC (nvrtc.h). A stable C ABI since CUDA 7; <c>nvrtcGetCUBIN</c> exists since 11.1 and the
/// supported-architecture queries since 11.2. nvrtcProgram is an opaque pointer (nint). Only
/// <see cref="NvrtcCompiler"/> calls these.
/// </summary>
internal static unsafe partial class NvrtcApi
{
    private const string Lib = CudaLibraryNames.NvrtcImport;

    static NvrtcApi() => NativeLibraries.EnsureResolver();

    [LibraryImport(Lib)]
    internal static partial NvrtcResult nvrtcVersion(out int major, out int minor);

    // Returns a static string: nint, so no marshaller frees it.
    [LibraryImport(Lib)]
    internal static partial nint nvrtcGetErrorString(NvrtcResult result);

    [LibraryImport(Lib)]
    internal static partial NvrtcResult nvrtcGetNumSupportedArchs(out int count);

    [LibraryImport(Lib)]
    internal static partial NvrtcResult nvrtcGetSupportedArchs(int* architectures);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial NvrtcResult nvrtcCreateProgram(
        out nint program, string source, string name, int headerCount, string[]? headers, string[]? includeNames);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial NvrtcResult nvrtcCompileProgram(nint program, int optionCount, string[] options);

    [LibraryImport(Lib)]
    internal static partial NvrtcResult nvrtcGetProgramLogSize(nint program, out nuint size);

    [LibraryImport(Lib)]
    internal static partial NvrtcResult nvrtcGetProgramLog(nint program, byte* log);

    [LibraryImport(Lib)]
    internal static partial NvrtcResult nvrtcGetPTXSize(nint program, out nuint size);

    [LibraryImport(Lib)]
    internal static partial NvrtcResult nvrtcGetPTX(nint program, byte* ptx);

    [LibraryImport(Lib)]
    internal static partial NvrtcResult nvrtcGetCUBINSize(nint program, out nuint size);

    [LibraryImport(Lib)]
    internal static partial NvrtcResult nvrtcGetCUBIN(nint program, byte* cubin);

    [LibraryImport(Lib)]
    internal static partial NvrtcResult nvrtcDestroyProgram(ref nint program);
}
