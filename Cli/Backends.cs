using CudaI2V.Kernels;
using CudaI2V.Kernels.Cpu;
using CudaI2V.Kernels.Cuda.Backend;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Native.Errors;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Cli;

/// <summary>The backend a command runs on, from its <c>--device</c> option.</summary>
public static class Backends
{
    /// <summary>The words <c>--device</c> accepts.</summary>
    public static readonly string[] Devices = ["auto", "cpu", "cuda"];

    /// <summary>
    /// The backend for <paramref name="device"/>: "cpu" the fp32 reference; "cuda" the GPU or an error saying why
    /// not (exit code 3); "auto" the GPU when one works, else the CPU with one line on stderr saying why. On the GPU,
    /// <paramref name="dtype"/> (fp16, bf16 or fp32) is the storage type and <paramref name="attention"/> the attention
    /// implementation (<see cref="MatrixOpSet.ForAttention"/>); the CPU always runs in fp32.
    /// </summary>
    public static IOps Create(string device, CacheRoot cache, TextWriter messages, DType dtype = DType.F16, string attention = MatrixOpSet.DefaultAttention)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (device == "cpu")
        {
            return new CpuOps();
        }

        try
        {
            return CudaOps.Open(0, new CudaOpsOptions(dtype, Cache: cache, MatrixOps: MatrixOpSet.ForAttention(attention)));
        }
        catch (Exception e) when (e is CudaLibraryNotFoundException or CudaException or DllNotFoundException or ArgumentOutOfRangeException)
        {
            if (device == "cuda")
            {
                throw new NoGpuException($"--device cuda: no usable GPU: {e.Message} ('cudai2v info' says where it looked.)", e);
            }

            messages.WriteLine($"cudai2v: no usable GPU ({FirstLine(e.Message)}); running on the CPU reference backend.");
            return new CpuOps();
        }
    }

    private static string FirstLine(string text) => text.Split('\n')[0].TrimEnd('.', ' ');
}

/// <summary>The user asked for the GPU and none works; the message says why (exit code 3).</summary>
public sealed class NoGpuException : Exception
{
    /// <summary>Creates the exception.</summary>
    public NoGpuException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>Creates the exception.</summary>
    public NoGpuException()
        : this("No usable GPU.", new InvalidOperationException())
    {
    }

    /// <summary>Creates the exception.</summary>
    public NoGpuException(string message)
        : this(message, new InvalidOperationException(message))
    {
    }
}
