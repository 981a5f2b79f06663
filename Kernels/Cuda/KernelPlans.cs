using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda;

/// <summary>
/// Work a launcher planned from tensors alone, without touching a GPU: one kernel launch
/// (<see cref="KernelLaunch{TParams}"/>), or a few launches, device copies and byte fills in order. A launcher's
/// <c>Plan</c> is the only entry that takes the op's arguments; running any plan is one call,
/// <c>kernels.Launch(stream, SomeKernel.Plan(...))</c> (<see cref="CudaKernels"/>), so tests can check every branch of a
/// launcher on a machine without a GPU and run the same plan on an emulation or a device.
/// </summary>
public interface IKernelPlan
{
    /// <summary>Enqueues the plan's work on <paramref name="target"/>, in order.</summary>
    void EnqueueOn(ILaunchTarget target);
}

/// <summary>
/// Where planned work is enqueued, one piece at a time in order: a CUDA stream (what <see cref="CudaKernels"/> wraps),
/// or, in the tests, a host emulation that executes each launch from its parameters.
/// </summary>
public interface ILaunchTarget
{
    /// <summary>Enqueues one kernel launch.</summary>
    /// <typeparam name="TParams">The entry point's params struct.</typeparam>
    void Launch<TParams>(KernelLaunch<TParams> launch)
        where TParams : unmanaged;

    /// <summary>Enqueues a device-to-device copy.</summary>
    void Memcpy(DeviceMemcpy copy);

    /// <summary>Enqueues setting device bytes to one value.</summary>
    void Memset(DeviceMemset fill);
}

/// <summary>
/// One planned launch of a kernel entry point: which source file and entry, the grid, and the params struct.
/// </summary>
/// <typeparam name="TParams">The entry point's params struct.</typeparam>
/// <param name="SourceFile">The <c>.cu</c> file holding the entry point (<c>Fill.cu</c>).</param>
/// <param name="Entry">The extern "C" name (<c>fill_f16</c>).</param>
/// <param name="Config">Grid, block and shared memory.</param>
/// <param name="Params">The packed parameters.</param>
public readonly record struct KernelLaunch<TParams>(string SourceFile, string Entry, LaunchConfig Config, TParams Params) : IKernelPlan
    where TParams : unmanaged
{
    /// <inheritdoc/>
    public void EnqueueOn(ILaunchTarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        target.Launch(this);
    }
}

/// <summary>A device-to-device copy of <paramref name="Bytes"/> bytes (a cuMemcpyAsync).</summary>
/// <param name="Destination">The destination's device address.</param>
/// <param name="Source">The source's device address.</param>
/// <param name="Bytes">How many bytes, at least 1.</param>
public sealed record DeviceMemcpy(ulong Destination, ulong Source, long Bytes) : IKernelPlan
{
    /// <inheritdoc/>
    public void EnqueueOn(ILaunchTarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        target.Memcpy(this);
    }
}

/// <summary>Setting <paramref name="Bytes"/> device bytes to <paramref name="Value"/> (a cuMemsetD8Async).</summary>
/// <param name="Destination">The first byte's device address.</param>
/// <param name="Value">The byte written.</param>
/// <param name="Bytes">How many bytes, at least 1.</param>
public sealed record DeviceMemset(ulong Destination, byte Value, long Bytes) : IKernelPlan
{
    /// <inheritdoc/>
    public void EnqueueOn(ILaunchTarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        target.Memset(this);
    }
}

/// <summary>
/// A kernel launch, or a plain device copy where the launcher found the work to be one (a contiguous copy, a cast to
/// the same dtype), or neither when there is nothing to do.
/// </summary>
/// <typeparam name="TParams">The kernel's params struct.</typeparam>
/// <param name="Launch">The launch, or null.</param>
/// <param name="Memcpy">The copy, or null.</param>
public sealed record LaunchOrMemcpy<TParams>(KernelLaunch<TParams>? Launch, DeviceMemcpy? Memcpy) : IKernelPlan
    where TParams : unmanaged
{
    /// <inheritdoc/>
    public void EnqueueOn(ILaunchTarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        Launch?.EnqueueOn(target);
        Memcpy?.EnqueueOn(target);
    }
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
    public static string Suffix(DType dtype, string what) => dtype switch
    {
        DType.F32 => "f32",
        DType.F16 => "f16",
        DType.BF16 => "bf16",
        _ => throw new ArgumentException($"The {what} is {dtype}; CUDA kernels take F32, F16 or BF16.", what),
    };
}
