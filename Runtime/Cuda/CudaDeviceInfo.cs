using CudaI2V.Native.Driver;

namespace CudaI2V.Runtime.Cuda;

/// <summary>What the driver says about one GPU.</summary>
/// <param name="Ordinal">The device's index (0 for the first GPU).</param>
/// <param name="Name">The marketing name ("NVIDIA H100 80GB HBM3").</param>
/// <param name="Major">Compute capability, major part (9 for Hopper).</param>
/// <param name="Minor">Compute capability, minor part.</param>
/// <param name="Multiprocessors">Streaming multiprocessors.</param>
/// <param name="TotalMemory">Device memory in bytes.</param>
/// <param name="L2CacheBytes">L2 cache in bytes.</param>
/// <param name="MaxSharedMemoryPerBlock">Shared memory a block may opt in to, in bytes.</param>
public sealed record CudaDeviceInfo(int Ordinal, string Name, int Major, int Minor, int Multiprocessors, long TotalMemory, long L2CacheBytes, int MaxSharedMemoryPerBlock)
{
    /// <summary>The architecture number NVRTC targets: 10 * major + minor (90 for sm_90).</summary>
    public int Architecture => (10 * Major) + Minor;

    /// <summary>Reads device <paramref name="ordinal"/> (the driver must be initialised).</summary>
    public static CudaDeviceInfo Query(int ordinal)
    {
        var device = CudaDriver.Device(ordinal);
        int Attribute(CudaDeviceAttributeId id) => CudaDriver.DeviceAttribute(device, id);
        return new CudaDeviceInfo(
            ordinal,
            CudaDriver.DeviceName(device),
            Attribute(CudaDeviceAttributeId.ComputeCapabilityMajor),
            Attribute(CudaDeviceAttributeId.ComputeCapabilityMinor),
            Attribute(CudaDeviceAttributeId.MultiprocessorCount),
            CudaDriver.DeviceTotalMemory(device),
            Attribute(CudaDeviceAttributeId.L2CacheSize),
            Attribute(CudaDeviceAttributeId.MaxSharedMemoryPerBlockOptin));
    }
}
