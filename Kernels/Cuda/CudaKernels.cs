using System.Collections.Concurrent;
using CudaI2V.Runtime.Compilation;
using CudaI2V.Runtime.Cuda;

namespace CudaI2V.Kernels.Cuda;

/// <summary>
/// The kernel registry of one CUDA context, and the one way planned work reaches a stream: each <c>.cu</c> source is
/// compiled for the device (once, and cached on disk) and loaded at its first launch; <see cref="Launch(CudaStream, IKernelPlan?)"/>
/// enqueues any launcher's plan.
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

    /// <summary>
    /// Enqueues a planned launch on <paramref name="stream"/>. The module of its source file is compiled and loaded at
    /// its first launch.
    /// </summary>
    public void Launch<TParams>(CudaStream stream, KernelLaunch<TParams> launch)
        where TParams : unmanaged
    {
        var function = Module(launch.SourceFile).GetFunction(launch.Entry);
        KernelLauncher.Launch(function, launch.Config, stream, launch.Params);
    }

    /// <summary>Enqueues a planned launch on <paramref name="stream"/>; null (a launcher's "nothing to do") enqueues nothing.</summary>
    public void Launch<TParams>(CudaStream stream, KernelLaunch<TParams>? launch)
        where TParams : unmanaged
    {
        if (launch is { } planned)
        {
            Launch(stream, planned);
        }
    }

    /// <summary>Enqueues a plan's work (launches, copies, fills) on <paramref name="stream"/> in order; null enqueues nothing.</summary>
    public void Launch(CudaStream stream, IKernelPlan? plan) => plan?.EnqueueOn(new DeviceStream(this, stream));

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

    /// <summary>A CUDA stream as the <see cref="ILaunchTarget"/> plans are enqueued on.</summary>
    private sealed class DeviceStream(CudaKernels kernels, CudaStream stream) : ILaunchTarget
    {
        public void Launch<TParams>(KernelLaunch<TParams> launch)
            where TParams : unmanaged => kernels.Launch(stream, launch);

        public void Memcpy(DeviceMemcpy copy) => DeviceMemory.CopyAsync(stream, copy.Destination, copy.Source, copy.Bytes);

        public void Memset(DeviceMemset fill) => DeviceMemory.SetBytesAsync(stream, fill.Destination, fill.Value, fill.Bytes);
    }
}
