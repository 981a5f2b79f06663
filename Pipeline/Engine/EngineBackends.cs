using CudaI2V.Kernels;
using CudaI2V.Kernels.Cpu;
using CudaI2V.Kernels.Cuda.Backend;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Native.Errors;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Engine;

/// <summary>Where an engine's UNet, VAE and image encoder run (<see cref="EngineLoadOptions.Backend"/>).</summary>
public enum EngineBackend
{
    /// <summary>The GPU when one works, else the fp32 CPU reference, with a note saying why.</summary>
    Auto,

    /// <summary>The fp32 CPU reference: slow, for small models and checks.</summary>
    Cpu,

    /// <summary>The GPU (device 0); loading fails with <see cref="GpuUnavailableException"/> when none works.</summary>
    Cuda,
}

/// <summary>No usable GPU where one was required; the message says why (no driver, no device, a library not found).</summary>
public sealed class GpuUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public GpuUnavailableException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>Creates the exception.</summary>
    public GpuUnavailableException()
        : base("No usable GPU.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public GpuUnavailableException(string message)
        : base(message)
    {
    }
}

/// <summary>Opens the backend an <see cref="EngineBackend"/> names: the choice the library and the CLI share.</summary>
public static class EngineBackends
{
    /// <summary>
    /// The backend for <paramref name="backend"/>. <see cref="EngineBackend.Auto"/> tries the GPU and, when it cannot be
    /// used, logs "no usable GPU (why); running on the CPU reference backend." and returns the CPU's. On the GPU,
    /// <paramref name="dtype"/> is the storage type and <paramref name="attention"/> the attention implementation
    /// (<see cref="MatrixOpSet.ForAttention"/>); the CPU always runs in fp32. The caller owns the result (dispose it when
    /// it is disposable; an engine does so for the backend it is given).
    /// </summary>
    /// <exception cref="GpuUnavailableException"><see cref="EngineBackend.Cuda"/> and no GPU works.</exception>
    public static IOps Open(EngineBackend backend, CacheRoot cache, Action<string>? log = null, DType dtype = DType.F16, string attention = MatrixOpSet.DefaultAttention)
    {
        ArgumentNullException.ThrowIfNull(cache);
        if (backend == EngineBackend.Cpu)
        {
            return new CpuOps();
        }

        try
        {
            return CudaOps.Open(0, new CudaOpsOptions(dtype, Cache: cache, MatrixOps: MatrixOpSet.ForAttention(attention)));
        }
        catch (Exception e) when (e is CudaLibraryNotFoundException or CudaException or DllNotFoundException or ArgumentOutOfRangeException)
        {
            if (backend == EngineBackend.Cuda)
            {
                throw new GpuUnavailableException($"no usable GPU: {e.Message}", e);
            }

            log?.Invoke($"no usable GPU ({Reason(e)}); running on the CPU reference backend.");
            return new CpuOps();
        }
    }

    /// <summary>Why no GPU works, in one line: a library not found is named without its list of places (the full message has them).</summary>
    private static string Reason(Exception e) => e is CudaLibraryNotFoundException { Places.Count: > 0 } notFound
        ? CudaLibraryNotFoundException.Headline(notFound.Library)
        : e.Message.Split('\n')[0].TrimEnd('.', ' ', ':');
}
