using CudaI2V.Native.Driver;

namespace CudaI2V.Runtime.Cuda;

/// <summary>A grid or block size in up to three dimensions.</summary>
/// <param name="X">Size along x (at least 1).</param>
/// <param name="Y">Size along y.</param>
/// <param name="Z">Size along z.</param>
public readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1)
{
    /// <summary>X * Y * Z.</summary>
    public ulong Count => (ulong)X * Y * Z;

    /// <inheritdoc/>
    public override string ToString() => $"({X}, {Y}, {Z})";
}

/// <summary>How a kernel is launched: the grid of blocks, the threads per block and the dynamic shared memory.</summary>
/// <param name="Grid">Blocks.</param>
/// <param name="Block">Threads per block.</param>
/// <param name="SharedMemoryBytes">Dynamic shared memory per block.</param>
public readonly record struct LaunchConfig(Dim3 Grid, Dim3 Block, uint SharedMemoryBytes = 0);

/// <summary>
/// The one way kernels are launched. Every kernel takes a single parameter, a params struct passed by value
/// (<c>extern "C" __global__ void fill_f16(FillParams p)</c>); <see cref="Launch{TParams}"/> hands the driver a pointer
/// to the caller's struct, with no boxing and no per-launch allocation. With <c>CUDAI2V_SYNC_LAUNCH=1</c> (or
/// <see cref="SynchronizeEachLaunch"/>) each launch is followed by a stream synchronisation, so an asynchronous
/// fault is reported by the launch that caused it, naming the kernel.
/// </summary>
public static class KernelLauncher
{
    /// <summary>The environment switch for <see cref="SynchronizeEachLaunch"/>.</summary>
    public const string SyncEnvironmentVariable = "CUDAI2V_SYNC_LAUNCH";

    /// <summary>Synchronise after every launch (debugging: pins an asynchronous fault to its kernel). Read from the environment at start.</summary>
    public static bool SynchronizeEachLaunch { get; set; } = Environment.GetEnvironmentVariable(SyncEnvironmentVariable) == "1";

    /// <summary>
    /// Enqueues <paramref name="function"/> on <paramref name="stream"/> with <paramref name="parameters"/> as its one
    /// argument. The struct must match the kernel's params struct byte for byte (tests compare their sizes).
    /// </summary>
    public static unsafe void Launch<TParams>(CudaFunction function, LaunchConfig config, CudaStream stream, TParams parameters)
        where TParams : unmanaged
    {
        ArgumentNullException.ThrowIfNull(stream);
        stream.Context.MakeCurrent();
        // SAFETY: `parameters` is a by-value copy on this frame; cuLaunchKernel copies the bytes it points at before
        // returning, so the pointer does not outlive the call.
        void* argument = &parameters;
        CudaDriver.LaunchKernel(
            function.Handle,
            (config.Grid.X, config.Grid.Y, config.Grid.Z),
            (config.Block.X, config.Block.Y, config.Block.Z),
            config.SharedMemoryBytes,
            stream.Handle,
            &argument,
            function.Name);
        if (SynchronizeEachLaunch && !CudaGraph.IsCapturingOnThisThread)
        {
            CudaDriver.SynchronizeStream(stream.Handle, kernel: function.Name);
        }
    }
}
