namespace CudaI2V.Runtime.Tensors;

/// <summary>Where a tensor's bytes live.</summary>
public enum MemoryKind
{
    /// <summary>Ordinary process memory (managed arrays, memory-mapped files, pinned staging).</summary>
    Host,

    /// <summary>GPU memory (an arena or the weights allocation).</summary>
    Device,
}

/// <summary>
/// A block of bytes that tensors view. Tensors never own storage: whoever created the storage (an arena, a
/// memory-mapped file, a managed array) decides its lifetime.
/// </summary>
public abstract class TensorStorage
{
    /// <summary>Size of the block in bytes.</summary>
    public abstract long ByteLength { get; }

    /// <summary>Host or device.</summary>
    public abstract MemoryKind Kind { get; }
}

/// <summary>Storage in host memory, readable and writable as bytes.</summary>
public abstract class HostStorage : TensorStorage
{
    /// <inheritdoc/>
    public sealed override MemoryKind Kind => MemoryKind.Host;

    /// <summary>
    /// The bytes [<paramref name="offset"/>, offset + <paramref name="length"/>). Throws
    /// <see cref="ObjectDisposedException"/> when the owner (for example a memory-mapped file) was closed.
    /// </summary>
    public abstract Span<byte> GetBytes(long offset, int length);

    /// <summary>A new zero-filled managed block.</summary>
    public static HostStorage Allocate(long byteLength)
    {
        if (byteLength > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(
                nameof(byteLength), byteLength, $"A managed host tensor holds at most {Array.MaxLength} bytes.");
        }

        return new ManagedHostStorage(new byte[byteLength]);
    }

    /// <summary>Wraps an existing array without copying.</summary>
    public static HostStorage Wrap(byte[] bytes) => new ManagedHostStorage(bytes);

    /// <summary>Checks a byte range against the block.</summary>
    protected void CheckRange(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset + length > ByteLength)
        {
            throw new ArgumentOutOfRangeException(
                nameof(offset), $"Bytes [{offset}, {offset + length}) are outside a storage of {ByteLength} bytes.");
        }
    }
}

internal sealed class ManagedHostStorage(byte[] bytes) : HostStorage
{
    public override long ByteLength => bytes.LongLength;

    public override Span<byte> GetBytes(long offset, int length)
    {
        CheckRange(offset, length);
        return bytes.AsSpan((int)offset, length);
    }
}

/// <summary>
/// Host memory owned by someone else (a memory-mapped file): a pointer, a length and a liveness check. The
/// owner must keep the memory valid until it reports itself closed.
/// </summary>
public sealed unsafe class UnmanagedHostStorage : HostStorage
{
    private readonly byte* _pointer;
    private readonly long _length;
    private readonly Func<bool> _isAlive;
    private readonly string _ownerName;

    /// <summary>
    /// Wraps <paramref name="length"/> bytes at <paramref name="address"/>. SAFETY: the caller guarantees the
    /// memory stays mapped while <paramref name="isAlive"/> returns true.
    /// </summary>
    public UnmanagedHostStorage(byte* address, long length, Func<bool> isAlive, string ownerName)
    {
        _pointer = address;
        _length = length;
        _isAlive = isAlive;
        _ownerName = ownerName;
    }

    /// <inheritdoc/>
    public override long ByteLength => _length;

    /// <inheritdoc/>
    public override Span<byte> GetBytes(long offset, int length)
    {
        ObjectDisposedException.ThrowIf(!_isAlive(), _ownerName);
        CheckRange(offset, length);
        return new Span<byte>(_pointer + offset, length);
    }
}
