using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using CudaI2V.Native.Errors;
using CudaI2V.Native.Loading;

namespace CudaI2V.Native.Driver;

/// <summary>
/// The checked CUDA driver API: every call's status is tested and a failure throws <see cref="CudaException"/>
/// naming the call, e.g. <c>cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory)</c>. Release functions
/// (<c>TryFree</c>, <c>TryDestroy...</c>) never throw: they return false instead, so disposal is always safe.
/// Handles are the driver's own values (nint, ulong device pointers); <c>CudaI2V.Runtime</c> wraps them in owning types.
/// </summary>
public static unsafe class CudaDriver
{
    private const string Library = "CUDA driver";

    /// <summary>Loads the driver library (or throws <see cref="CudaLibraryNotFoundException"/>) and calls cuInit.</summary>
    public static void Initialize()
    {
        NativeLibraries.Require(CudaLibrary.Driver);
        Check(DriverApi.cuInit(0));
    }

    /// <summary>The CUDA version the driver supports, as 1000 * major + 10 * minor (13000 is CUDA 13.0). Works before cuInit.</summary>
    public static int DriverVersion()
    {
        NativeLibraries.Require(CudaLibrary.Driver);
        Check(DriverApi.cuDriverGetVersion(out var version));
        return version;
    }

    /// <summary>The number of CUDA devices (after <see cref="Initialize"/>).</summary>
    public static int DeviceCount()
    {
        Check(DriverApi.cuDeviceGetCount(out var count));
        return count;
    }

    /// <summary>The device handle of ordinal <paramref name="ordinal"/>.</summary>
    public static int Device(int ordinal)
    {
        Check(DriverApi.cuDeviceGet(out var device, ordinal));
        return device;
    }

    /// <summary>The device's marketing name ("NVIDIA H100 80GB HBM3").</summary>
    public static string DeviceName(int device)
    {
        // SAFETY: the driver writes at most Length bytes, NUL included, into this frame's buffer.
        const int Length = 256;
        var buffer = stackalloc byte[Length];
        Check(DriverApi.cuDeviceGetName(buffer, Length, device));
        return Marshal.PtrToStringUTF8((nint)buffer) ?? "";
    }

    /// <summary>One device attribute.</summary>
    public static int DeviceAttribute(int device, CudaDeviceAttributeId attribute)
    {
        Check(DriverApi.cuDeviceGetAttribute(out var value, attribute, device));
        return value;
    }

    /// <summary>The device's memory in bytes.</summary>
    public static long DeviceTotalMemory(int device)
    {
        Check(DriverApi.cuDeviceTotalMem_v2(out var bytes, device));
        return (long)bytes;
    }

    /// <summary>Retains the device's primary context (the one the CUDA runtime, and so cuBLAS, uses).</summary>
    public static nint RetainPrimaryContext(int device)
    {
        Check(DriverApi.cuDevicePrimaryCtxRetain(out var context, device));
        return context;
    }

    /// <summary>Releases one retain of the device's primary context; false if the driver refused.</summary>
    public static bool TryReleasePrimaryContext(int device) => DriverApi.cuDevicePrimaryCtxRelease_v2(device) == CuResult.Success;

    /// <summary>Makes <paramref name="context"/> current on the calling thread.</summary>
    public static void SetCurrentContext(nint context) => Check(DriverApi.cuCtxSetCurrent(context));

    /// <summary>Waits for all work of the current context.</summary>
    public static void SynchronizeContext() => Check(DriverApi.cuCtxSynchronize());

    /// <summary>Free and total device memory of the current context's device, in bytes.</summary>
    public static (long Free, long Total) MemoryInfo()
    {
        Check(DriverApi.cuMemGetInfo_v2(out var free, out var total));
        return ((long)free, (long)total);
    }

    /// <summary>Allocates device memory (aligned to at least 256 bytes).</summary>
    public static ulong Allocate(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        Check(DriverApi.cuMemAlloc_v2(out var pointer, (nuint)bytes));
        return pointer;
    }

    /// <summary>Frees device memory; false if the driver refused.</summary>
    public static bool TryFree(ulong address) => DriverApi.cuMemFree_v2(address) == CuResult.Success;

    /// <summary>Allocates page-locked host memory, which the GPU reads and writes by DMA.</summary>
    public static nint AllocatePinned(long bytes, PinnedMemoryOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        Check(DriverApi.cuMemHostAlloc(out var pointer, (nuint)bytes, (uint)options));
        return pointer;
    }

    /// <summary>Frees page-locked host memory; false if the driver refused.</summary>
    public static bool TryFreePinned(nint address) => DriverApi.cuMemFreeHost(address) == CuResult.Success;

    /// <summary>Enqueues a host-to-device copy. SAFETY: <paramref name="source"/> must stay valid until the copy ran (pinned memory: until the stream reaches it).</summary>
    public static void CopyHostToDeviceAsync(ulong destination, void* source, long bytes, nint stream) =>
        Check(DriverApi.cuMemcpyHtoDAsync_v2(destination, source, (nuint)bytes, stream));

    /// <summary>Enqueues a device-to-host copy. SAFETY: <paramref name="destination"/> must stay valid until the stream reaches the copy.</summary>
    public static void CopyDeviceToHostAsync(void* destination, ulong source, long bytes, nint stream) =>
        Check(DriverApi.cuMemcpyDtoHAsync_v2(destination, source, (nuint)bytes, stream));

    /// <summary>Enqueues a device-to-device copy.</summary>
    public static void CopyDeviceToDeviceAsync(ulong destination, ulong source, long bytes, nint stream) =>
        Check(DriverApi.cuMemcpyDtoDAsync_v2(destination, source, (nuint)bytes, stream));

    /// <summary>Enqueues setting <paramref name="count"/> bytes to <paramref name="value"/>.</summary>
    public static void MemsetAsync(ulong destination, byte value, long count, nint stream) =>
        Check(DriverApi.cuMemsetD8Async(destination, value, (nuint)count, stream));

    /// <summary>Creates a stream; a non-blocking one does not synchronise with the legacy default stream.</summary>
    public static nint CreateStream(bool nonBlocking)
    {
        Check(DriverApi.cuStreamCreate(out var stream, nonBlocking ? 1u : 0u));
        return stream;
    }

    /// <summary>Destroys a stream (its pending work still completes); false if the driver refused.</summary>
    public static bool TryDestroyStream(nint stream) => DriverApi.cuStreamDestroy_v2(stream) == CuResult.Success;

    /// <summary>Waits for the stream's work. With <paramref name="kernel"/>, a failure names that kernel as its likely cause.</summary>
    public static void SynchronizeStream(nint stream, string? kernel = null) =>
        Check(DriverApi.cuStreamSynchronize(stream), kernel: kernel);

    /// <summary>True when all the stream's work has completed, false while some is pending.</summary>
    public static bool IsStreamIdle(nint stream)
    {
        var result = DriverApi.cuStreamQuery(stream);
        if (result == CuResult.ErrorNotReady)
        {
            return false;
        }

        Check(result);
        return true;
    }

    /// <summary>Creates an event; <paramref name="timing"/> false makes a cheaper one that cannot time.</summary>
    public static nint CreateEvent(bool timing)
    {
        Check(DriverApi.cuEventCreate(out var evt, timing ? 0u : 2u));
        return evt;
    }

    /// <summary>Records the event at the stream's current end.</summary>
    public static void RecordEvent(nint evt, nint stream) => Check(DriverApi.cuEventRecord(evt, stream));

    /// <summary>Waits until the event has happened.</summary>
    public static void SynchronizeEvent(nint evt) => Check(DriverApi.cuEventSynchronize(evt));

    /// <summary>Milliseconds between two completed timing events (about 0.5 microsecond resolution).</summary>
    public static float ElapsedMilliseconds(nint start, nint end)
    {
        Check(DriverApi.cuEventElapsedTime(out var milliseconds, start, end));
        return milliseconds;
    }

    /// <summary>Destroys an event; false if the driver refused.</summary>
    public static bool TryDestroyEvent(nint evt) => DriverApi.cuEventDestroy_v2(evt) == CuResult.Success;

    /// <summary>
    /// Loads a module from a CUBIN or a NUL-terminated PTX image. A failure carries the driver's JIT log, and for
    /// PTX newer than the driver a hint to compile a CUBIN instead.
    /// </summary>
    public static nint LoadModule(ReadOnlySpan<byte> image)
    {
        // SAFETY: the log buffer and the option arrays live on this frame and the driver only writes within
        // LogSize; the image is pinned by `fixed` for the duration of the call, which copies it.
        const int LogSize = 8192;
        var log = stackalloc byte[LogSize];
        log[0] = 0;
        var options = stackalloc CuJitOption[] { CuJitOption.ErrorLogBuffer, CuJitOption.ErrorLogBufferSizeBytes };
        var values = stackalloc void*[] { log, (void*)LogSize };
        CuResult result;
        nint module;
        fixed (byte* data = image)
        {
            result = DriverApi.cuModuleLoadDataEx(out module, data, 2, options, values);
        }

        if (result != CuResult.Success)
        {
            var (name, text) = Describe(result);
            var hint = result == CuResult.ErrorUnsupportedPtxVersion ? "; NVRTC is newer than the driver, compile a CUBIN (sm_XX) instead" : "";
            var jitLog = Marshal.PtrToStringUTF8((nint)log)?.Trim() is { Length: > 0 } l ? $"; JIT log: {l}" : "";
            throw new CudaException(Library, "cuModuleLoadDataEx(image)", (int)result, name, text + hint + jitLog);
        }

        return module;
    }

    /// <summary>Unloads a module; false if the driver refused.</summary>
    public static bool TryUnloadModule(nint module) => DriverApi.cuModuleUnload(module) == CuResult.Success;

    /// <summary>The kernel <paramref name="name"/> (an extern "C" entry point) of a loaded module.</summary>
    public static nint GetFunction(nint module, string name)
    {
        Check(DriverApi.cuModuleGetFunction(out var function, module, name), kernel: name);
        return function;
    }

    /// <summary>
    /// Enqueues a kernel launch. SAFETY: <paramref name="parameters"/> holds one pointer per kernel parameter, each to
    /// a value of exactly the parameter's type; the driver copies the values before this returns.
    /// </summary>
    public static void LaunchKernel(
        nint function, (uint X, uint Y, uint Z) grid, (uint X, uint Y, uint Z) block, uint sharedMemoryBytes, nint stream, void** parameters, string kernel) =>
        Check(DriverApi.cuLaunchKernel(function, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z, sharedMemoryBytes, stream, parameters, null), kernel: kernel);

    /// <summary>Starts recording the stream's work into a graph instead of running it.</summary>
    public static void BeginCapture(nint stream, CudaCaptureMode mode) => Check(DriverApi.cuStreamBeginCapture_v2(stream, mode));

    /// <summary>Ends a capture and returns the recorded graph.</summary>
    public static nint EndCapture(nint stream)
    {
        Check(DriverApi.cuStreamEndCapture(stream, out var graph));
        return graph;
    }

    /// <summary>Makes an executable graph from a recorded one.</summary>
    public static nint InstantiateGraph(nint graph)
    {
        Check(DriverApi.cuGraphInstantiateWithFlags(out var exec, graph, 0));
        return exec;
    }

    /// <summary>Enqueues a replay of an executable graph.</summary>
    public static void LaunchGraph(nint graphExec, nint stream) => Check(DriverApi.cuGraphLaunch(graphExec, stream));

    /// <summary>Destroys an executable graph; false if the driver refused.</summary>
    public static bool TryDestroyGraphExec(nint graphExec) => DriverApi.cuGraphExecDestroy(graphExec) == CuResult.Success;

    /// <summary>Destroys a recorded graph; false if the driver refused.</summary>
    public static bool TryDestroyGraph(nint graph) => DriverApi.cuGraphDestroy(graph) == CuResult.Success;

    /// <summary>The driver's name and description of a CUresult (its own tables, so they match the installed driver).</summary>
    public static (string Name, string Text) Describe(int code) => Describe((CuResult)code);

    /// <summary>"13.0" for 13000.</summary>
    public static string FormatVersion(int version) => $"{version / 1000}.{version % 1000 / 10}";

    internal static void Check(CuResult result, [CallerArgumentExpression(nameof(result))] string call = "", string? kernel = null)
    {
        if (result != CuResult.Success)
        {
            var (name, text) = Describe(result);
            throw new CudaException(Library, call, (int)result, name, text, kernel);
        }
    }

    private static (string Name, string Text) Describe(CuResult result)
    {
        var name = DriverApi.cuGetErrorName(result, out var namePointer) == CuResult.Success
            ? Marshal.PtrToStringUTF8(namePointer) : null;
        var text = DriverApi.cuGetErrorString(result, out var textPointer) == CuResult.Success
            ? Marshal.PtrToStringUTF8(textPointer) : null;
        return (name ?? $"CUresult {(int)result}", text ?? "unknown error");
    }
}
