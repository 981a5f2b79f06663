using CudaI2V.Native.Driver;

namespace CudaI2V.Runtime.Cuda;

/// <summary>A point in a stream's work: recorded on a stream, waited for, and timed against another event.</summary>
public sealed class CudaEvent : IDisposable
{
    private readonly EventHandle _handle;
    private readonly CudaContext _context;

    /// <summary>Creates an event; <paramref name="timing"/> false makes a cheaper one that cannot be timed.</summary>
    public CudaEvent(CudaContext context, bool timing = true)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.MakeCurrent();
        _context = context;
        _handle = new EventHandle(CudaDriver.CreateEvent(timing));
    }

    /// <summary>Marks the current end of <paramref name="stream"/>'s work.</summary>
    public void Record(CudaStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _context.MakeCurrent();
        CudaDriver.RecordEvent(Value, stream.Handle);
    }

    /// <summary>Waits until the stream has reached the recorded point.</summary>
    public void Synchronize()
    {
        _context.MakeCurrent();
        CudaDriver.SynchronizeEvent(Value);
    }

    /// <summary>Milliseconds of GPU time from <paramref name="start"/> to <paramref name="end"/> (both recorded and reached).</summary>
    public static float ElapsedMilliseconds(CudaEvent start, CudaEvent end)
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(end);
        start._context.MakeCurrent();
        return CudaDriver.ElapsedMilliseconds(start.Value, end.Value);
    }

    /// <summary>Destroys the event. Never throws.</summary>
    public void Dispose()
    {
        if (!_handle.IsClosed)
        {
            _context.TryMakeCurrent();
        }

        _handle.Dispose();
    }

    private nint Value
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _handle.Value;
        }
    }
}
