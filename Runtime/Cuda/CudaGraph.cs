using CudaI2V.Native.Driver;
using CudaI2V.Native.Errors;

namespace CudaI2V.Runtime.Cuda;

/// <summary>
/// A stream's work recorded once and replayed with one launch: the kernels, copies and GEMMs that
/// <see cref="Capture"/>'s callback enqueues are not run but recorded, with their arguments and addresses fixed.
/// A replay runs the same operations on the same memory, so everything they touch must stay allocated (an arena)
/// and nothing may be allocated while capturing.
/// </summary>
public sealed class CudaGraph : IDisposable
{
    [ThreadStatic]
    private static bool _capturing;

    private readonly GraphExecHandle _exec;
    private readonly CudaContext _context;

    private CudaGraph(CudaContext context, GraphExecHandle exec)
    {
        _context = context;
        _exec = exec;
    }

    /// <summary>
    /// Records what <paramref name="work"/> enqueues on <paramref name="stream"/> and instantiates it. The default
    /// thread-local mode lets other threads allocate meanwhile; an unsafe call on this thread breaks the capture.
    /// If <paramref name="work"/> throws, the capture is ended and discarded and the exception passes on.
    /// </summary>
    public static CudaGraph Capture(CudaStream stream, Action<CudaStream> work, CudaCaptureMode mode = CudaCaptureMode.ThreadLocal)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(work);
        stream.Context.MakeCurrent();
        CudaDriver.BeginCapture(stream.Handle, mode);
        _capturing = true;
        try
        {
            work(stream);
        }
        catch
        {
            DiscardCapture(stream);
            throw;
        }
        finally
        {
            _capturing = false;
        }

        var graph = CudaDriver.EndCapture(stream.Handle);
        try
        {
            return new CudaGraph(stream.Context, new GraphExecHandle(CudaDriver.InstantiateGraph(graph)));
        }
        finally
        {
            CudaDriver.TryDestroyGraph(graph); // the executable graph keeps what it needs
        }
    }

    /// <summary>True while this thread is inside <see cref="Capture"/>'s callback (synchronising would break the capture).</summary>
    internal static bool IsCapturingOnThisThread => _capturing;

    /// <summary>Enqueues one replay on <paramref name="stream"/>.</summary>
    public void Launch(CudaStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ObjectDisposedException.ThrowIf(_exec.IsClosed, this);
        _context.MakeCurrent();
        CudaDriver.LaunchGraph(_exec.Value, stream.Handle);
    }

    /// <summary>Destroys the executable graph. Never throws.</summary>
    public void Dispose()
    {
        if (!_exec.IsClosed)
        {
            _context.TryMakeCurrent();
        }

        _exec.Dispose();
    }

    private static void DiscardCapture(CudaStream stream)
    {
        try
        {
            CudaDriver.TryDestroyGraph(CudaDriver.EndCapture(stream.Handle));
        }
        catch (CudaException)
        {
            // An invalidated capture has no graph to destroy; the original exception matters.
        }
    }
}
