using CudaI2V.Native.Driver;
using CudaI2V.Native.Errors;
using CudaI2V.Native.Loading;

namespace CudaI2V.Runtime.Cuda;

/// <summary>
/// One GPU's primary context: the context the CUDA runtime (and so cuBLAS) uses, so our memory, streams and modules
/// are valid in cuBLAS calls with no hand-over. Everything that talks to the driver calls <see cref="MakeCurrent"/>
/// first, because the driver's current context belongs to the calling thread. Disposing releases this object's retain;
/// the driver destroys the context (and frees all its memory) when the last retain goes.
/// </summary>
public sealed class CudaContext : IDisposable
{
    // The current context of each thread, as far as we set it; the generation invalidates every thread's note
    // when any context is released (a released context's address can come back for a new one).
    [ThreadStatic]
    private static (nint Context, long Generation) _current;
    private static long _generation;

    private readonly PrimaryContextHandle _handle;

    private CudaContext(PrimaryContextHandle handle, CudaDeviceInfo device, int driverVersion)
    {
        _handle = handle;
        Device = device;
        DriverVersion = driverVersion;
    }

    /// <summary>The GPU.</summary>
    public CudaDeviceInfo Device { get; }

    /// <summary>The CUDA version the driver supports (13000 is 13.0).</summary>
    public int DriverVersion { get; }

    /// <summary>True once disposed.</summary>
    public bool IsDisposed => _handle.IsClosed;

    /// <summary>
    /// Initialises the driver and retains device <paramref name="ordinal"/>'s primary context. Throws
    /// <see cref="CudaLibraryNotFoundException"/> without a driver and <see cref="CudaException"/> without a device.
    /// </summary>
    public static CudaContext Open(int ordinal = 0)
    {
        var driverVersion = CudaDriver.DriverVersion();
        NativeLibraries.MaxCudaMajor = driverVersion / 1000;
        CudaDriver.Initialize();
        var count = CudaDriver.DeviceCount();
        if (ordinal < 0 || ordinal >= count)
        {
            throw new ArgumentOutOfRangeException(nameof(ordinal), ordinal, $"The driver reports {count} CUDA device(s).");
        }

        var device = CudaDeviceInfo.Query(ordinal);
        var deviceHandle = CudaDriver.Device(ordinal);
        var handle = new PrimaryContextHandle(CudaDriver.RetainPrimaryContext(deviceHandle), deviceHandle);
        var context = new CudaContext(handle, device, driverVersion);
        context.MakeCurrent();
        return context;
    }

    /// <summary>Makes this context current on the calling thread (a no-op when it already is).</summary>
    public void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        var generation = Interlocked.Read(ref _generation);
        if (_current.Context == _handle.Value && _current.Generation == generation)
        {
            return;
        }

        CudaDriver.SetCurrentContext(_handle.Value);
        _current = (_handle.Value, generation);
    }

    /// <summary>
    /// <see cref="MakeCurrent"/> for disposers, which must not throw: false when the context is gone or the driver
    /// refused (the release that follows then reports its own status, which disposers ignore).
    /// </summary>
    internal bool TryMakeCurrent()
    {
        if (IsDisposed)
        {
            return false;
        }

        try
        {
            MakeCurrent();
            return true;
        }
        catch (CudaException)
        {
            return false;
        }
        catch (ObjectDisposedException)
        {
            return false; // disposed by another thread meanwhile
        }
    }

    /// <summary>Waits for every stream of the context.</summary>
    public void Synchronize()
    {
        MakeCurrent();
        CudaDriver.SynchronizeContext();
    }

    /// <summary>Free and total device memory, in bytes.</summary>
    public DeviceMemoryInfo MemoryInfo()
    {
        MakeCurrent();
        var (free, total) = CudaDriver.MemoryInfo();
        return new DeviceMemoryInfo(free, total);
    }

    /// <summary>Releases this retain of the primary context. Never throws.</summary>
    public void Dispose()
    {
        if (!_handle.IsClosed)
        {
            Interlocked.Increment(ref _generation);
            _handle.Dispose();
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Device.Name} (sm_{Device.Architecture})";
}

/// <summary>Device memory figures, in bytes.</summary>
/// <param name="Free">Not allocated by anyone.</param>
/// <param name="Total">The card's memory.</param>
public readonly record struct DeviceMemoryInfo(long Free, long Total);
