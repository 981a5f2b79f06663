using System.Runtime.InteropServices;
using CudaI2V.Native.Loading;

namespace CudaI2V.Native.Driver;

/// <summary>CUresult: the values our code branches on; every other value is named by cuGetErrorName.</summary>
internal enum CuResult
{
    Success = 0,
    ErrorInvalidValue = 1,
    ErrorOutOfMemory = 2,
    ErrorNotInitialized = 3,
    ErrorDeinitialized = 4,
    ErrorNoDevice = 100,
    ErrorInvalidDevice = 101,
    ErrorUnsupportedPtxVersion = 222,
    ErrorNotReady = 600,
}

/// <summary>CUjit_option values used when loading a module (cuda.h).</summary>
internal enum CuJitOption
{
    ErrorLogBuffer = 5,
    ErrorLogBufferSizeBytes = 6,
}

/// <summary>
/// Raw CUDA driver API (cuda.h), one import per function, named exactly as the library exports it. cuda.h
/// #defines many names to versioned exports (<c>cuMemAlloc</c> to <c>cuMemAlloc_v2</c>, <c>cuStreamBeginCapture</c>
/// to <c>cuStreamBeginCapture_v2</c>); the export is what we bind. Drivers keep every old export, so these names
/// work from CUDA 11.4 to 13. Types: CUdevice is int; CUcontext, CUmodule, CUfunction, CUstream, CUevent, CUgraph
/// and CUgraphExec are opaque pointers (nint); CUdeviceptr is a 64-bit integer (ulong); size_t is nuint.
/// Only <see cref="CudaDriver"/> calls these: every status is checked there.
/// </summary>
internal static unsafe partial class DriverApi
{
    private const string Lib = CudaLibraryNames.DriverImport;

    static DriverApi() => NativeLibraries.EnsureResolver();

    [LibraryImport(Lib)]
    internal static partial CuResult cuInit(uint flags);

    [LibraryImport(Lib)]
    internal static partial CuResult cuDriverGetVersion(out int version);

    // Both return pointers to static strings: declared as nint so no marshaller frees them.
    [LibraryImport(Lib)]
    internal static partial CuResult cuGetErrorName(CuResult error, out nint name);

    [LibraryImport(Lib)]
    internal static partial CuResult cuGetErrorString(CuResult error, out nint text);

    [LibraryImport(Lib)]
    internal static partial CuResult cuDeviceGetCount(out int count);

    [LibraryImport(Lib)]
    internal static partial CuResult cuDeviceGet(out int device, int ordinal);

    [LibraryImport(Lib)]
    internal static partial CuResult cuDeviceGetName(byte* name, int length, int device);

    [LibraryImport(Lib)]
    internal static partial CuResult cuDeviceGetAttribute(out int value, CudaDeviceAttributeId attribute, int device);

    [LibraryImport(Lib)]
    internal static partial CuResult cuDeviceTotalMem_v2(out nuint bytes, int device);

    [LibraryImport(Lib)]
    internal static partial CuResult cuDevicePrimaryCtxRetain(out nint context, int device);

    [LibraryImport(Lib)]
    internal static partial CuResult cuDevicePrimaryCtxRelease_v2(int device);

    [LibraryImport(Lib)]
    internal static partial CuResult cuCtxSetCurrent(nint context);

    [LibraryImport(Lib)]
    internal static partial CuResult cuCtxSynchronize();

    [LibraryImport(Lib)]
    internal static partial CuResult cuMemGetInfo_v2(out nuint free, out nuint total);

    [LibraryImport(Lib)]
    internal static partial CuResult cuMemAlloc_v2(out ulong pointer, nuint bytes);

    [LibraryImport(Lib)]
    internal static partial CuResult cuMemFree_v2(ulong pointer);

    [LibraryImport(Lib)]
    internal static partial CuResult cuMemHostAlloc(out nint pointer, nuint bytes, uint flags);

    [LibraryImport(Lib)]
    internal static partial CuResult cuMemFreeHost(nint pointer);

    [LibraryImport(Lib)]
    internal static partial CuResult cuMemcpyHtoDAsync_v2(ulong destination, void* source, nuint bytes, nint stream);

    [LibraryImport(Lib)]
    internal static partial CuResult cuMemcpyDtoHAsync_v2(void* destination, ulong source, nuint bytes, nint stream);

    [LibraryImport(Lib)]
    internal static partial CuResult cuMemcpyDtoDAsync_v2(ulong destination, ulong source, nuint bytes, nint stream);

    [LibraryImport(Lib)]
    internal static partial CuResult cuMemsetD8Async(ulong destination, byte value, nuint count, nint stream);

    [LibraryImport(Lib)]
    internal static partial CuResult cuStreamCreate(out nint stream, uint flags);

    [LibraryImport(Lib)]
    internal static partial CuResult cuStreamDestroy_v2(nint stream);

    [LibraryImport(Lib)]
    internal static partial CuResult cuStreamSynchronize(nint stream);

    [LibraryImport(Lib)]
    internal static partial CuResult cuStreamQuery(nint stream);

    [LibraryImport(Lib)]
    internal static partial CuResult cuEventCreate(out nint evt, uint flags);

    [LibraryImport(Lib)]
    internal static partial CuResult cuEventRecord(nint evt, nint stream);

    [LibraryImport(Lib)]
    internal static partial CuResult cuEventSynchronize(nint evt);

    // CUDA 12.8+ headers map cuEventElapsedTime to cuEventElapsedTime_v2; the original export remains.
    [LibraryImport(Lib)]
    internal static partial CuResult cuEventElapsedTime(out float milliseconds, nint start, nint end);

    [LibraryImport(Lib)]
    internal static partial CuResult cuEventDestroy_v2(nint evt);

    [LibraryImport(Lib)]
    internal static partial CuResult cuModuleLoadDataEx(out nint module, void* image, uint optionCount, CuJitOption* options, void** optionValues);

    [LibraryImport(Lib)]
    internal static partial CuResult cuModuleUnload(nint module);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial CuResult cuModuleGetFunction(out nint function, nint module, string name);

    // kernelParams: one pointer per kernel parameter, each pointing at that parameter's value.
    [LibraryImport(Lib)]
    internal static partial CuResult cuLaunchKernel(
        nint function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
        uint sharedMemoryBytes, nint stream, void** kernelParams, void** extra);

    [LibraryImport(Lib)]
    internal static partial CuResult cuStreamBeginCapture_v2(nint stream, CudaCaptureMode mode);

    [LibraryImport(Lib)]
    internal static partial CuResult cuStreamEndCapture(nint stream, out nint graph);

    // CUDA 11.4+; CUDA 12's cuda.h maps cuGraphInstantiate itself to this export.
    [LibraryImport(Lib)]
    internal static partial CuResult cuGraphInstantiateWithFlags(out nint graphExec, nint graph, ulong flags);

    [LibraryImport(Lib)]
    internal static partial CuResult cuGraphLaunch(nint graphExec, nint stream);

    [LibraryImport(Lib)]
    internal static partial CuResult cuGraphExecDestroy(nint graphExec);

    [LibraryImport(Lib)]
    internal static partial CuResult cuGraphDestroy(nint graph);
}
