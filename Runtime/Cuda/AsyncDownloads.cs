using CudaI2V.Native.Driver;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Runtime.Cuda;

/// <summary>
/// Device-to-host copies that run in stream order while the host goes on: each copy lands in page-locked memory and
/// records an event; <see cref="Pending.Wait"/> waits for that event only, not for work queued after the copy. Used to
/// read small results (the non-finite counts of a step) one step late, so that reading never stalls the GPU. The
/// page-locked buffers are reused, because freeing page-locked memory can wait for the whole device.
/// </summary>
public sealed unsafe class AsyncDownloads : IDisposable
{
    private readonly CudaContext _context;
    private readonly Stack<(PinnedHostBuffer Buffer, CudaEvent Done)> _free = new();
    private readonly List<(PinnedHostBuffer Buffer, CudaEvent Done)> _all = [];

    /// <summary>Copies on <paramref name="context"/>'s device.</summary>
    public AsyncDownloads(CudaContext context) => _context = context ?? throw new ArgumentNullException(nameof(context));

    /// <summary>Buffers are this size; larger tensors go through <see cref="TensorTransfer"/>.</summary>
    public const int MaxBytes = 64 << 10;

    /// <summary>Enqueues copying the contiguous device tensor <paramref name="device"/> (at most <see cref="MaxBytes"/>) on <paramref name="stream"/>.</summary>
    public Pending Start(Tensor device, CudaStream stream)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(stream);
        if (device.Storage is not DeviceStorage storage || !device.IsContiguous || device.ByteLength > MaxBytes)
        {
            throw new ArgumentException($"An asynchronous download takes a contiguous device tensor of at most {MaxBytes} bytes, got {device}.", nameof(device));
        }

        var slot = _free.Count > 0 ? _free.Pop() : New();
        _context.MakeCurrent();

        // SAFETY: the buffer is reused only after Wait has seen the event that follows this copy.
        CudaDriver.CopyDeviceToHostAsync((void*)slot.Buffer.Address, storage.Address + (ulong)device.ByteOffset, device.ByteLength, stream.Handle);
        slot.Done.Record(stream);
        return new Pending(this, slot, device.DType, device.Shape);
    }

    private (PinnedHostBuffer Buffer, CudaEvent Done) New()
    {
        var slot = (Buffer: new PinnedHostBuffer(_context, MaxBytes), Done: new CudaEvent(_context, timing: false));
        _all.Add(slot);
        return slot;
    }

    /// <summary>Waits for copies in flight, then frees the buffers. Never throws.</summary>
    public void Dispose()
    {
        foreach (var (buffer, done) in _all)
        {
            try
            {
                done.Synchronize();
            }
            catch (Native.Errors.CudaException)
            {
                // A failed stream has no copy left that writes the buffer.
            }

            done.Dispose();
            buffer.Dispose();
        }

        _all.Clear();
        _free.Clear();
    }

    /// <summary>One copy in flight.</summary>
    public sealed class Pending
    {
        private readonly AsyncDownloads _owner;
        private readonly (PinnedHostBuffer Buffer, CudaEvent Done) _slot;
        private readonly DType _dtype;
        private readonly TensorShape _shape;
        private Tensor? _result;

        internal Pending(AsyncDownloads owner, (PinnedHostBuffer, CudaEvent) slot, DType dtype, TensorShape shape)
        {
            _owner = owner;
            _slot = slot;
            _dtype = dtype;
            _shape = shape;
        }

        /// <summary>Waits for the copy (only), and returns the values as a host tensor; later calls return the same tensor.</summary>
        public Tensor Wait()
        {
            if (_result is null)
            {
                _slot.Done.Synchronize();
                var host = Tensor.Zeros(_dtype, _shape);
                _slot.Buffer.AsSpan(0, (int)host.ByteLength).CopyTo(host.AsBytes());
                _owner._free.Push(_slot);
                _result = host;
            }

            return _result;
        }
    }
}
