using System.Collections.Concurrent;
using CudaI2V.Runtime.Compilation;
using CudaI2V.Runtime.Cuda;

namespace CudaI2V.Kernels.Cuda;

/// <summary>
/// One planned launch of a kernel entry point: which entry, the grid, and the params struct. Launchers build it
/// from tensors (validating shapes) without touching the GPU, so tests can check every branch of a launcher on a
/// machine without one.
/// </summary>
/// <typeparam name="TParams">The entry point's params struct.</typeparam>
/// <param name="Entry">The extern "C" name (<c>fill_f16</c>).</param>
/// <param name="Config">Grid, block and shared memory.</param>
/// <param name="Params">The packed parameters.</param>
public readonly record struct KernelLaunch<TParams>(string Entry, LaunchConfig Config, TParams Params)
    where TParams : unmanaged;

/// <summary>
/// What the launchers need on a GPU: the context's module cache, through which each <c>.cu</c> source is compiled
/// for the device (once, and cached on disk) and loaded at its first launch.
/// </summary>
public sealed class CudaKernels : IDisposable
{
    private readonly ConcurrentDictionary<string, CudaModule> _bySource = new(StringComparer.Ordinal);

    /// <summary>Launchers for <paramref name="context"/>, compiling through <paramref name="compiler"/>.</summary>
    public CudaKernels(CudaContext context, KernelCompiler compiler)
    {
        Modules = new KernelModuleCache(context, compiler);
    }

    /// <summary>The loaded modules.</summary>
    public KernelModuleCache Modules { get; }

    /// <summary>The device's architecture (90 for an H100).</summary>
    public int DeviceArchitecture => Modules.Context.Device.Architecture;

    /// <summary>Enqueues a planned launch of an entry point of <paramref name="sourceFile"/> on <paramref name="stream"/>.</summary>
    public void Launch<TParams>(string sourceFile, KernelLaunch<TParams> launch, CudaStream stream)
        where TParams : unmanaged
    {
        var function = Module(sourceFile).GetFunction(launch.Entry);
        KernelLauncher.Launch(function, launch.Config, stream, launch.Params);
    }

    /// <summary>
    /// The loaded module of <paramref name="sourceFile"/>, compiled and loaded at the first call (which checks the
    /// device against the architectures the file declares); later calls are one dictionary lookup.
    /// </summary>
    public CudaModule Module(string sourceFile) => _bySource.GetOrAdd(sourceFile, file =>
    {
        var declared = CudaSources.DeclaredArchitectures(file);
        if (DeviceArchitecture < declared.Min())
        {
            throw new NotSupportedException(
                $"{file} is written for {string.Join(", ", declared.Select(a => $"sm_{a}"))}; this device is sm_{DeviceArchitecture}.");
        }

        return Modules.Get(CudaSources.Load(file));
    });

    /// <summary>Unloads the modules. Never throws.</summary>
    public void Dispose() => Modules.Dispose();
}

/// <summary>Grids for one-dimensional grid-stride kernels.</summary>
public static class ElementwiseGrid
{
    /// <summary>Threads per block.</summary>
    public const uint BlockSize = 256;

    /// <summary>
    /// The default cap on blocks: 4096 blocks of 256 threads keep every SM of the largest GPUs busy; beyond that the
    /// grid-stride loop gives each thread several elements instead of launching more blocks.
    /// </summary>
    public const int DefaultMaxBlocks = 4096;

    /// <summary>The launch for <paramref name="count"/> elements (at least one): ceil(count / 256) blocks, at most <paramref name="maxBlocks"/>.</summary>
    public static LaunchConfig For(long count, int maxBlocks = DefaultMaxBlocks)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBlocks);
        var blocks = Math.Min((count + BlockSize - 1) / BlockSize, maxBlocks);
        return new LaunchConfig(new Dim3((uint)blocks), new Dim3(BlockSize));
    }

    /// <summary>The entry point's dtype suffix: f32, f16 or bf16; other dtypes are refused naming <paramref name="what"/>.</summary>
    public static string Suffix(Runtime.Tensors.DType dtype, string what) => dtype switch
    {
        Runtime.Tensors.DType.F32 => "f32",
        Runtime.Tensors.DType.F16 => "f16",
        Runtime.Tensors.DType.BF16 => "bf16",
        _ => throw new ArgumentException($"The {what} is {dtype}; CUDA kernels take F32, F16 or BF16.", what),
    };
}
