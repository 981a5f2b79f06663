using CudaI2V.Native.Driver;

namespace CudaI2V.Runtime.Cuda;

/// <summary>
/// A non-blocking CUDA stream: work enqueued on it runs in order, asynchronously to the host and without waiting
/// for the legacy default stream. One per pipeline.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711", Justification = "CUDA's own name; this is not a System.IO.Stream.")]
public sealed class CudaStream : IDisposable
{
    private readonly StreamHandle _handle;

    /// <summary>Creates a non-blocking stream in <paramref name="context"/>.</summary>
    public CudaStream(CudaContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.MakeCurrent();
        Context = context;
        _handle = new StreamHandle(CudaDriver.CreateStream(nonBlocking: true));
    }

    /// <summary>The context the stream belongs to.</summary>
    public CudaContext Context { get; }

    /// <summary>The raw CUstream, for calls into the native layer. Valid until disposed.</summary>
    public nint Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _handle.Value;
        }
    }

    /// <summary>True when every enqueued operation has completed.</summary>
    public bool IsIdle
    {
        get
        {
            Context.MakeCurrent();
            return CudaDriver.IsStreamIdle(Handle);
        }
    }

    /// <summary>Waits for the stream's work; an asynchronous fault of that work is thrown here.</summary>
    public void Synchronize()
    {
        Context.MakeCurrent();
        CudaDriver.SynchronizeStream(Handle);
    }

    /// <summary>Destroys the stream (work already enqueued still completes). Never throws.</summary>
    public void Dispose()
    {
        if (!_handle.IsClosed)
        {
            Context.TryMakeCurrent();
        }

        _handle.Dispose();
    }
}
