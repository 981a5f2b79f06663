using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Runtime.Cuda;

/// <summary>
/// Tensor storage in GPU memory: an address range owned by someone else (a <see cref="DeviceAllocation"/>, an arena,
/// the weights allocation). The host cannot read it; copy through <see cref="TensorTransfer"/>.
/// </summary>
public sealed class DeviceStorage : TensorStorage
{
    private readonly ulong _address;
    private readonly Func<bool> _isAlive;
    private readonly string _ownerName;

    /// <summary>
    /// Wraps <paramref name="byteLength"/> bytes at device address <paramref name="address"/>. SAFETY: the owner
    /// keeps the memory allocated while <paramref name="isAlive"/> returns true.
    /// </summary>
    public DeviceStorage(ulong address, long byteLength, Func<bool> isAlive, string ownerName)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(byteLength);
        ArgumentNullException.ThrowIfNull(isAlive);
        _address = address;
        ByteLength = byteLength;
        _isAlive = isAlive;
        _ownerName = ownerName;
    }

    /// <inheritdoc/>
    public override long ByteLength { get; }

    /// <inheritdoc/>
    public override MemoryKind Kind => MemoryKind.Device;

    /// <summary>The first byte's device address; throws ObjectDisposedException once the owner freed it.</summary>
    public ulong Address
    {
        get
        {
            ObjectDisposedException.ThrowIf(!_isAlive(), _ownerName);
            return _address;
        }
    }

    /// <summary>The address of bytes [<paramref name="offset"/>, offset + <paramref name="length"/>), checked against the block.</summary>
    public ulong AddressOf(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset + length > ByteLength)
        {
            throw new ArgumentOutOfRangeException(
                nameof(offset), $"Bytes [{offset}, {offset + length}) are outside a device storage of {ByteLength} bytes.");
        }

        return Address + (ulong)offset;
    }
}

/// <summary>Device-side helpers for <see cref="Tensor"/>.</summary>
public static class DeviceTensors
{
    /// <summary>True when the tensor views GPU memory.</summary>
    public static bool IsOnDevice(this Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return tensor.Storage is DeviceStorage;
    }

    /// <summary>
    /// The device address of element [0, 0, ...]; <paramref name="what"/> names the argument in the error when the
    /// tensor lives on the host.
    /// </summary>
    public static ulong DeviceAddress(this Tensor tensor, string what = "tensor")
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.Storage is not DeviceStorage storage)
        {
            throw new ArgumentException($"The {what} ({tensor.DType} {tensor.Shape}) is in host memory; a GPU operation needs a device tensor.", what);
        }

        return storage.Address + (ulong)tensor.ByteOffset;
    }
}
