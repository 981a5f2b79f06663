using System.Runtime.InteropServices;
using CudaI2V.Native.Blas;
using CudaI2V.Native.Driver;

namespace CudaI2V.Runtime.Cuda;

/// <summary>
/// A driver object owned by exactly one <see cref="IDisposable"/> wrapper. The SafeHandle gives a release that runs
/// once, even when Dispose races, and never throws (the release functions return a status instead). Finalization is
/// suppressed on purpose: a finalizer runs on another thread, possibly after the context is gone, and must never
/// free GPU objects; an undisposed object lives until its context dies.
/// </summary>
internal abstract class CudaHandle : SafeHandle
{
    protected CudaHandle(nint value)
        : base(0, ownsHandle: true)
    {
        SetHandle(value);
#pragma warning disable CA1816 // Deliberate: no finalizer may release a GPU object (see the class summary).
        GC.SuppressFinalize(this);
#pragma warning restore CA1816
    }

    public override bool IsInvalid => handle == 0;

    /// <summary>The raw value, for the driver calls. Only valid while the owner is not disposed.</summary>
    public nint Value => handle;
}

internal sealed class PrimaryContextHandle(nint context, int device) : CudaHandle(context)
{
    protected override bool ReleaseHandle() => CudaDriver.TryReleasePrimaryContext(device);
}

internal sealed class StreamHandle(nint stream) : CudaHandle(stream)
{
    protected override bool ReleaseHandle() => CudaDriver.TryDestroyStream(handle);
}

internal sealed class EventHandle(nint evt) : CudaHandle(evt)
{
    protected override bool ReleaseHandle() => CudaDriver.TryDestroyEvent(handle);
}

internal sealed class ModuleHandle(nint module) : CudaHandle(module)
{
    protected override bool ReleaseHandle() => CudaDriver.TryUnloadModule(handle);
}

internal sealed class GraphExecHandle(nint graphExec) : CudaHandle(graphExec)
{
    protected override bool ReleaseHandle() => CudaDriver.TryDestroyGraphExec(handle);
}

/// <summary>A cuMemAlloc block; the device address is the handle value (64-bit processes only).</summary>
internal sealed class DeviceMemoryHandle(ulong address) : CudaHandle((nint)address)
{
    protected override bool ReleaseHandle() => CudaDriver.TryFree((ulong)handle);
}

internal sealed class PinnedMemoryHandle(nint address) : CudaHandle(address)
{
    protected override bool ReleaseHandle() => CudaDriver.TryFreePinned(handle);
}

internal sealed class CublasHandle(nint value) : CudaHandle(value)
{
    protected override bool ReleaseHandle() => Cublas.TryDestroy(handle);
}

internal sealed class CublasLtHandle(nint value) : CudaHandle(value)
{
    protected override bool ReleaseHandle() => CublasLt.TryDestroy(handle);
}
