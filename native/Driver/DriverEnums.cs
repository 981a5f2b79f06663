namespace CudaI2V.Native.Driver;

/// <summary>The CUdevice_attribute values CudaI2V reads (cuda.h).</summary>
public enum CudaDeviceAttributeId
{
    /// <summary>CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK.</summary>
    MaxThreadsPerBlock = 1,

    /// <summary>CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT.</summary>
    MultiprocessorCount = 16,

    /// <summary>CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, in bytes.</summary>
    L2CacheSize = 38,

    /// <summary>CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR.</summary>
    ComputeCapabilityMajor = 75,

    /// <summary>CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR.</summary>
    ComputeCapabilityMinor = 76,

    /// <summary>CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, in bytes.</summary>
    MaxSharedMemoryPerBlockOptin = 97,
}

/// <summary>CUstreamCaptureMode: which other threads' unsafe calls break a capture in progress.</summary>
public enum CudaCaptureMode
{
    /// <summary>Any thread's unsafe call (such as cuMemAlloc) fails while this capture runs.</summary>
    Global = 0,

    /// <summary>Only this thread's unsafe calls fail: other threads may allocate.</summary>
    ThreadLocal = 1,

    /// <summary>No call is prohibited.</summary>
    Relaxed = 2,
}

/// <summary>Flags of cuMemHostAlloc.</summary>
[Flags]
public enum PinnedMemoryOptions : uint
{
    /// <summary>Page-locked memory usable by the context that allocated it.</summary>
    None = 0,

    /// <summary>CU_MEMHOSTALLOC_PORTABLE: pinned for every context.</summary>
    Portable = 1,

    /// <summary>CU_MEMHOSTALLOC_WRITECOMBINED: fast to write and send, very slow for the host to read.</summary>
    WriteCombined = 4,
}
