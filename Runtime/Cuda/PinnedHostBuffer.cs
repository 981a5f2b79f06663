using CudaI2V.Native.Driver;

namespace CudaI2V.Runtime.Cuda;

/// <summary>
/// Page-locked host memory: the GPU copies to and from it by DMA at full bus speed and asynchronously, which
/// pageable memory does not allow. Used as staging for uploads and downloads. Freed by <see cref="Dispose"/> only.
/// </summary>
public sealed unsafe class PinnedHostBuffer : IDisposable
{
    private readonly PinnedMemoryHandle _handle;
    private readonly CudaContext _context;

    /// <summary>Allocates <paramref name="byteLength"/> pinned bytes (at most 2 GiB, one span's worth).</summary>
    public PinnedHostBuffer(CudaContext context, int byteLength)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(byteLength);
        context.MakeCurrent();
        _context = context;
        _handle = new PinnedMemoryHandle(CudaDriver.AllocatePinned(byteLength, PinnedMemoryOptions.Portable));
        ByteLength = byteLength;
    }

    /// <summary>Size in bytes.</summary>
    public int ByteLength { get; }

    /// <summary>The first byte's address.</summary>
    public nint Address
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _handle.Value;
        }
    }

    /// <summary>
    /// The bytes [<paramref name="offset"/>, offset + <paramref name="length"/>). SAFETY: the span points into native
    /// memory freed by Dispose; do not keep it past that.
    /// </summary>
    public Span<byte> AsSpan(int offset, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset + (long)length, ByteLength, nameof(length));
        return new Span<byte>((byte*)Address + offset, length);
    }

    /// <summary>Frees the memory (the caller makes sure no copy still uses it). Never throws.</summary>
    public void Dispose()
    {
        if (!_handle.IsClosed)
        {
            _context.TryMakeCurrent();
        }

        _handle.Dispose();
    }
}
