using CudaI2V.Kernels.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cpu;

/// <summary>
/// The reference backend: every <see cref="IOps"/> entry in plain fp32 on contiguous F32 host tensors.
/// It is the oracle the CUDA backend is held to, so it is written to be obviously correct rather than fast:
/// values are fp32, dot products use <c>TensorPrimitives</c> in fp32, and normalisation statistics,
/// softmax sums, averages and transcendental functions are evaluated in double before rounding to fp32.
/// Fused entries are composed from their parts. Rows are spread over cores with <c>Parallel.For</c>.
/// </summary>
/// <remarks>
/// Tensors are limited to what one span can address (2^31 bytes). Every op allocates its output once, through
/// <see cref="NewTensor"/>: from the planned arena while one runs (<see cref="HostMemory"/>), else a new managed array.
/// Fused entries compose their parts in place on that one output.
/// </remarks>
public sealed partial class CpuOps : IOps
{
    /// <summary>The counted FLOPs one core sustains, assumed for <see cref="AssumedFlopsPerSecond"/>.</summary>
    public const double PerCoreFlopsPerSecond = 1e9;

    private readonly HostMemory _memory = new();
    private OpWatch? _watch;
    private ParallelOptions _parallel = new();

    /// <inheritdoc/>
    public string Name => "cpu";

    /// <inheritdoc/>
    public IBackendMemory Memory => _memory;

    /// <inheritdoc/>
    public DType ActivationDType => DType.F32;

    /// <inheritdoc/>
    /// <remarks>
    /// <see cref="PerCoreFlopsPerSecond"/> per core, measured on the development machine (docs/performance.md, "CPU reference
    /// backend"); rough by design, for warnings only.
    /// </remarks>
    public double? AssumedFlopsPerSecond => Environment.ProcessorCount * PerCoreFlopsPerSecond;

    /// <inheritdoc/>
    /// <remarks>
    /// Every op checks the watch as it allocates its output, and every <c>Parallel.For</c> stops between rows once the
    /// watch's token is cancelled.
    /// </remarks>
    public IDisposable Watch(OpWatch watch)
    {
        ArgumentNullException.ThrowIfNull(watch);
        if (_watch is not null)
        {
            throw new InvalidOperationException("This CPU backend is already watched; one watch at a time.");
        }

        _watch = watch;
        _parallel = new ParallelOptions { CancellationToken = watch.Cancellation };
        return new WatchEnd(this);
    }

    /// <inheritdoc/>
    /// <remarks>On the CPU the contents are zero.</remarks>
    public Tensor Empty(DType dtype, TensorShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        _watch?.OpStarting();
        return _memory.Outputs.TryTake(nameof(Empty), dtype, shape) ?? Tensor.Zeros(dtype, shape);
    }

    /// <inheritdoc/>
    public Tensor FromHost(Tensor host, DType? dtype = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (host.Storage.Kind != MemoryKind.Host || !host.DType.IsFloatingPoint())
        {
            throw OpShapes.Fail(nameof(FromHost), $"expects a floating-point host tensor, got {host}.");
        }

        if (dtype is { } requested && requested != DType.F32)
        {
            throw OpShapes.Fail(nameof(FromHost), $"the CPU backend holds F32 tensors only, not {requested}.");
        }

        return host.To(DType.F32);
    }

    /// <inheritdoc/>
    public Tensor ToHost(Tensor x)
    {
        Require(nameof(ToHost), nameof(x), x);
        return x.To(DType.F32);
    }

    /// <inheritdoc/>
    public Tensor Copy(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.DType != DType.F32 || x.Storage.Kind != MemoryKind.Host)
        {
            throw OpShapes.Fail(nameof(Copy), $"x must be an F32 host tensor, got {x}.");
        }

        var y = NewTensor(nameof(Copy), x.Shape);
        x.Contiguous().AsBytes().CopyTo(y.AsBytes());
        return y;
    }

    /// <summary>Checks that an argument is a contiguous F32 host tensor (null is allowed for optional ones).</summary>
    private static void Require(string op, string name, Tensor? t)
    {
        if (t is not null && (t.DType != DType.F32 || t.Storage.Kind != MemoryKind.Host || !t.IsContiguous))
        {
            var layout = t.IsContiguous ? "" : " strided view";
            throw OpShapes.Fail(op, $"{name} must be a contiguous F32 host tensor, got {t}{layout}.");
        }
    }

    /// <summary>The output of <paramref name="op"/>: the next planned tensor while an arena runs, else a new zeroed one.</summary>
    /// <remarks>It is where each op meets the watch (<see cref="Watch"/>): cancelled work stops here, and the op is counted.</remarks>
    private Tensor NewTensor(string op, TensorShape shape)
    {
        _watch?.OpStarting();
        return _memory.Outputs.TryTake(op, DType.F32, shape) ?? Tensor.Zeros(DType.F32, shape);
    }

    /// <summary>Product of the dimensions in [from, to).</summary>
    private static int Product(TensorShape shape, int from, int to)
    {
        var product = 1;
        for (var d = from; d < to; d++)
        {
            product *= shape[d];
        }

        return product;
    }

    private sealed class WatchEnd(CpuOps owner) : IDisposable
    {
        public void Dispose()
        {
            owner._watch = null;
            owner._parallel = new ParallelOptions();
        }
    }
}
