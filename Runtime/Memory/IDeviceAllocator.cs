namespace CudaI2V.Runtime.Memory;

/// <summary>One block from an <see cref="IDeviceAllocator"/>: its address and size; disposing frees it.</summary>
public interface IDeviceAllocation : IDisposable
{
    /// <summary>The device address of the first byte.</summary>
    ulong Address { get; }

    /// <summary>Size in bytes.</summary>
    long Bytes { get; }
}

/// <summary>
/// Where a <see cref="DeviceArena"/> gets its one block: the GPU's memory in production, a fake in tests (so
/// planning and packing are tested without a GPU).
/// </summary>
public interface IDeviceAllocator
{
    /// <summary>A short description for messages ("NVIDIA H100 80GB HBM3 (device 0)").</summary>
    string Description { get; }

    /// <summary>Bytes free and in total on the device now.</summary>
    (long Free, long Total) MemoryInfo();

    /// <summary>Allocates <paramref name="bytes"/> bytes.</summary>
    IDeviceAllocation Allocate(long bytes);
}
