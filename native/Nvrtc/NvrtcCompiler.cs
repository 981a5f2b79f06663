using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using CudaI2V.Native.Errors;
using CudaI2V.Native.Loading;

namespace CudaI2V.Native.Nvrtc;

/// <summary>A header handed to NVRTC in memory: <c>#include "Name"</c> in a source resolves to <see cref="Source"/>.</summary>
/// <param name="Name">The include name.</param>
/// <param name="Source">The header's text.</param>
public sealed record NvrtcHeader(string Name, string Source);

/// <summary>What one NVRTC compilation produced.</summary>
/// <param name="Image">A CUBIN (ELF), or PTX text with its terminating NUL: exactly what cuModuleLoadData takes.</param>
/// <param name="IsCubin">True for a CUBIN.</param>
/// <param name="Log">NVRTC's log (warnings; empty when clean).</param>
public sealed record NvrtcOutput(byte[] Image, bool IsCubin, string Log);

/// <summary>
/// The checked NVRTC API. A failed compilation throws <see cref="NvrtcCompileException"/> with the whole log; any
/// other failed call throws <see cref="CudaException"/> naming it.
/// </summary>
public static unsafe class NvrtcCompiler
{
    private const string Library = "NVRTC";

    /// <summary>NVRTC's version (11.8, 12.4, 13.0 ...); loads the library or throws <see cref="CudaLibraryNotFoundException"/>.</summary>
    public static Version Version()
    {
        NativeLibraries.Require(CudaLibrary.Nvrtc);
        Check(NvrtcApi.nvrtcVersion(out var major, out var minor));
        return new Version(major, minor);
    }

    /// <summary>The SM numbers this NVRTC can target, ascending (80, 86, 89, 90 ...); empty before NVRTC 11.2.</summary>
    public static IReadOnlyList<int> SupportedArchitectures()
    {
        NativeLibraries.Require(CudaLibrary.Nvrtc);
        try
        {
            Check(NvrtcApi.nvrtcGetNumSupportedArchs(out var count));
            var architectures = new int[count];
            // SAFETY: NVRTC writes exactly `count` ints, the size it just reported.
            fixed (int* p = architectures)
            {
                Check(NvrtcApi.nvrtcGetSupportedArchs(p));
            }

            return architectures;
        }
        catch (EntryPointNotFoundException)
        {
            return [];
        }
    }

    /// <summary>
    /// Compiles <paramref name="source"/>. The options must include the target (<c>--gpu-architecture=sm_90</c> for a
    /// CUBIN, <c>compute_90</c> for PTX); <paramref name="cubin"/> says which image to return.
    /// </summary>
    /// <param name="programName">The file name NVRTC puts in its messages ("Fill.cu").</param>
    /// <param name="source">The CUDA C++ source.</param>
    /// <param name="headers">Headers the source may #include, by name.</param>
    /// <param name="options">NVRTC options, in order.</param>
    /// <param name="cubin">Return the CUBIN (the target is a real sm_XX) rather than the PTX.</param>
    public static NvrtcOutput Compile(string programName, string source, IReadOnlyList<NvrtcHeader> headers, IReadOnlyList<string> options, bool cubin)
    {
        ArgumentNullException.ThrowIfNull(headers);
        ArgumentNullException.ThrowIfNull(options);
        NativeLibraries.Require(CudaLibrary.Nvrtc);
        string[] headerSources = [.. headers.Select(h => h.Source)];
        string[] headerNames = [.. headers.Select(h => h.Name)];
        Check(NvrtcApi.nvrtcCreateProgram(out var program, source, programName, headers.Count, headerSources, headerNames));
        try
        {
            string[] optionArray = [.. options];
            var compiled = NvrtcApi.nvrtcCompileProgram(program, optionArray.Length, optionArray);
            var log = ReadLog(program);
            if (compiled != NvrtcResult.Success)
            {
                throw new NvrtcCompileException(programName, optionArray, log, (int)compiled, ErrorString(compiled));
            }

            return new NvrtcOutput(cubin ? ReadCubin(program) : ReadPtx(program), cubin, log);
        }
        finally
        {
            // Release never throws: a failure to free a compiler object leaks a little host memory at worst.
            _ = NvrtcApi.nvrtcDestroyProgram(ref program);
        }
    }

    private static string ReadLog(nint program)
    {
        Check(NvrtcApi.nvrtcGetProgramLogSize(program, out var size));
        if (size <= 1)
        {
            return "";
        }

        var buffer = new byte[size];
        // SAFETY: each Get call writes exactly the size its Size call reported into the pinned array.
        fixed (byte* p = buffer)
        {
            Check(NvrtcApi.nvrtcGetProgramLog(program, p));
        }

        return Encoding.UTF8.GetString(buffer).TrimEnd('\0').TrimEnd();
    }

    private static byte[] ReadPtx(nint program)
    {
        Check(NvrtcApi.nvrtcGetPTXSize(program, out var size));
        var buffer = new byte[size]; // the size counts the terminating NUL, which cuModuleLoadData needs
        fixed (byte* p = buffer)
        {
            Check(NvrtcApi.nvrtcGetPTX(program, p));
        }

        return buffer;
    }

    private static byte[] ReadCubin(nint program)
    {
        Check(NvrtcApi.nvrtcGetCUBINSize(program, out var size));
        if (size == 0)
        {
            throw new CudaException(Library, "nvrtcGetCUBINSize(program)", 0, "empty CUBIN", "a CUBIN needs a real architecture target (sm_XX, not compute_XX)");
        }

        var buffer = new byte[size];
        fixed (byte* p = buffer)
        {
            Check(NvrtcApi.nvrtcGetCUBIN(program, p));
        }

        return buffer;
    }

    private static string ErrorString(NvrtcResult result) =>
        Marshal.PtrToStringUTF8(NvrtcApi.nvrtcGetErrorString(result)) ?? $"nvrtcResult {(int)result}";

    private static void Check(NvrtcResult result, [CallerArgumentExpression(nameof(result))] string call = "")
    {
        if (result != NvrtcResult.Success)
        {
            var name = ErrorString(result);
            throw new CudaException(Library, call, (int)result, name, name);
        }
    }
}
