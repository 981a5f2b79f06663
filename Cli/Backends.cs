using CudaI2V.Kernels;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Pipeline.Engine;
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
        var backend = device switch
        {
            "cpu" => EngineBackend.Cpu,
            "cuda" => EngineBackend.Cuda,
            _ => EngineBackend.Auto,
        };
        try
        {
            return EngineBackends.Open(backend, cache, line => messages.WriteLine($"cudai2v: {line}"), dtype, attention);
        }
        catch (GpuUnavailableException e)
        {
            throw new NoGpuException($"--device cuda: {e.Message} ('cudai2v info' says where it looked.)", e);
        }
    }
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
