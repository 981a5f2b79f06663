using CudaI2V.Native.Driver;
using CudaI2V.Native.Errors;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Runtime.Cuda;

/// <summary>
/// Copies tensors between host and device through a pinned staging buffer cut in two halves: while the GPU copies
/// one half, the host fills (or empties) the other, so large transfers run at DMA speed without pinning the source.
/// Both sides must have the same dtype and shape and be contiguous (convert dtypes with a cast kernel or
/// <see cref="Tensor.To"/> first). Not thread-safe: one transfer object per stream.
/// </summary>
public sealed unsafe class TensorTransfer : IDisposable
{
    private readonly CudaContext _context;
    private readonly PinnedHostBuffer _staging;
    private readonly CudaEvent[] _halfDone;
    private readonly int _half;

    /// <summary>Creates a transfer object with <paramref name="stagingBytes"/> of pinned memory (default 16 MiB).</summary>
    public TensorTransfer(CudaContext context, int stagingBytes = 16 << 20)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentOutOfRangeException.ThrowIfLessThan(stagingBytes, 2);
        _context = context;
        _half = stagingBytes / 2;
        _staging = new PinnedHostBuffer(context, _half * 2);
        _halfDone = [new CudaEvent(context, timing: false), new CudaEvent(context, timing: false)];
    }

    /// <summary>
    /// Enqueues copying <paramref name="host"/> into <paramref name="device"/> on <paramref name="stream"/>. Returns once
    /// the host tensor has been read (it may be reused); the device copy completes in stream order.
    /// </summary>
    public void Upload(Tensor host, Tensor device, CudaStream stream)
    {
        var (source, offset, bytes, target) = Check(host, device, stream, "upload");
        for (long done = 0, chunk = 0; done < bytes; done += _half, chunk++)
        {
            var half = (int)(chunk % 2);
            var length = (int)Math.Min(_half, bytes - done);
            _halfDone[half].Synchronize(); // the GPU has finished reading this half
            source.GetBytes(offset + done, length).CopyTo(_staging.AsSpan(half * _half, length));
            // SAFETY: the half stays untouched until _halfDone[half] shows the GPU has read it (checked above next time).
            CudaDriver.CopyHostToDeviceAsync(target + (ulong)done, (byte*)_staging.Address + (half * _half), length, stream.Handle);
            _halfDone[half].Record(stream);
        }
    }

    /// <summary>Copies <paramref name="device"/> into <paramref name="host"/> after the stream's earlier work; returns when done.</summary>
    public void Download(Tensor device, Tensor host, CudaStream stream)
    {
        var (target, offset, bytes, source) = Check(host, device, stream, "download");
        var chunks = (bytes + _half - 1) / _half;
        for (long chunk = 0; chunk <= chunks; chunk++)
        {
            if (chunk < chunks)
            {
                var half = (int)(chunk % 2);
                var start = chunk * _half;
                var length = Math.Min(_half, bytes - start);
                // SAFETY: this half was emptied (or never used) before; it is read only after _halfDone[half] fires.
                CudaDriver.CopyDeviceToHostAsync((byte*)_staging.Address + (half * _half), source + (ulong)start, length, stream.Handle);
                _halfDone[half].Record(stream);
            }

            if (chunk > 0)
            {
                // Empty the previous half while the GPU fills this one.
                var previous = chunk - 1;
                var half = (int)(previous % 2);
                var start = previous * _half;
                var length = (int)Math.Min(_half, bytes - start);
                _halfDone[half].Synchronize();
                _staging.AsSpan(half * _half, length).CopyTo(target.GetBytes(offset + start, length));
            }
        }
    }

    /// <summary>A new contiguous host tensor with the values of <paramref name="device"/> (same dtype).</summary>
    public Tensor ToHost(Tensor device, CudaStream stream)
    {
        ArgumentNullException.ThrowIfNull(device);
        var host = Tensor.Zeros(device.DType, device.Shape);
        Download(device, host, stream);
        return host;
    }

    /// <summary>Waits for copies still reading the staging buffer, then frees it. Never throws.</summary>
    public void Dispose()
    {
        foreach (var done in _halfDone)
        {
            try
            {
                done.Synchronize();
            }
            catch (CudaException)
            {
                // A failed stream has nothing left that reads the buffer.
            }
            catch (ObjectDisposedException)
            {
            }

            done.Dispose();
        }

        _staging.Dispose();
    }

    private (HostStorage Host, long HostOffset, long Bytes, ulong Device) Check(Tensor host, Tensor device, CudaStream stream, string what)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(stream);
        if (host.Storage is not HostStorage hostStorage)
        {
            throw new ArgumentException($"The {what}'s host tensor ({host}) is not in host memory.", nameof(host));
        }

        if (host.DType != device.DType || host.Shape != device.Shape)
        {
            throw new ArgumentException(
                $"A {what} needs the same dtype and shape on both sides: host {host.DType} {host.Shape}, device {device.DType} {device.Shape}.", nameof(device));
        }

        if (!host.IsContiguous || !device.IsContiguous)
        {
            throw new ArgumentException($"A {what} needs contiguous tensors (host {host.Shape}, device {device.Shape}); copy strided views first.", nameof(device));
        }

        var address = device.DeviceAddress("device tensor");
        ((DeviceStorage)device.Storage).AddressOf(device.ByteOffset, device.ByteLength);
        _context.MakeCurrent();
        return (hostStorage, host.ByteOffset, host.ByteLength, address);
    }
}
