using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Kernels.Memory;
using CudaI2V.Runtime.Blas;
using CudaI2V.Runtime.Compilation;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda.Backend;

/// <summary>
/// The CUDA backend of the op catalogue: every <see cref="IOps"/> entry on one stream, fp16 (bf16 or fp32) storage
/// with fp32 accumulation and statistics, channels-last, through the launchers in this folder and cuBLAS. The
/// models written against <see cref="IOps"/> run on it unchanged.
/// </summary>
/// <remarks>
/// This class is the op table: each entry checks shapes, asks <see cref="CudaMemory"/> for its output (from the planned
/// arena while one runs, else a scoped allocation) and launches. Where tensors live is entirely <see cref="Memory"/>'s.
/// </remarks>
public sealed class CudaOps : IOps, IDisposable
{
    private readonly CudaStream _stream;
    private readonly CudaKernels _kernels;
    private readonly CublasGemm _blas;
    private readonly CublasLtGemm _blasLt;
    private readonly TensorTransfer _transfer;
    private readonly CudaOpContext _opContext;
    private readonly CudaMemory _memory;
    private readonly CudaOpsOptions _options;
    private readonly bool _ownsContext;
    private MatrixOpSet _matrixOps;
    private bool _disposed;

    /// <summary>Sets up the backend on <paramref name="context"/> (which the caller keeps owning).</summary>
    public CudaOps(CudaContext context, CudaOpsOptions? options = null)
        : this(context, options ?? new CudaOpsOptions(), ownsContext: false)
    {
    }

    private CudaOps(CudaContext context, CudaOpsOptions options, bool ownsContext)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (options.ActivationDType is not (DType.F16 or DType.BF16 or DType.F32))
        {
            throw new ArgumentException($"The CUDA backend stores activations as F16, BF16 or F32, not {options.ActivationDType}.", nameof(options));
        }

        Context = context;
        ActivationDType = options.ActivationDType;
        _options = options;
        _ownsContext = ownsContext;
        _stream = new CudaStream(context);
        _kernels = new CudaKernels(context, new KernelCompiler(options.Cache));
        _blas = new CublasGemm(_stream);
        _blasLt = new CublasLtGemm(_stream);
        _transfer = new TensorTransfer(context);
        _opContext = new CudaOpContext(_kernels, _stream, _blas, _blasLt);
        _matrixOps = options.MatrixOps ?? MatrixOpSet.Default();
        _memory = new CudaMemory(context, _stream, options.WorkspaceBytes, options.ActivationDType);
    }

    /// <summary>Opens device <paramref name="ordinal"/>'s primary context and the backend on it (disposed together).</summary>
    public static CudaOps Open(int ordinal = 0, CudaOpsOptions? options = null)
    {
        var context = CudaContext.Open(ordinal);
        try
        {
            return new CudaOps(context, options ?? new CudaOpsOptions(), ownsContext: true);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>The device context.</summary>
    public CudaContext Context { get; }

    /// <summary>When set, every op is timed with CUDA events under its <see cref="OpCategories"/> family.</summary>
    public EventProfiler? Profiler { get; set; }

    /// <summary>
    /// The convolution, linear and attention implementations the ops run. Set between calls to compare two
    /// implementations on the same weights and arena (not while a CUDA graph is being captured; a captured graph keeps
    /// the kernels it captured).
    /// </summary>
    public MatrixOpSet MatrixOps
    {
        get => _matrixOps;
        set => _matrixOps = value ?? throw new ArgumentNullException(nameof(value));
    }

    private EventProfiler.Region? Measure(string op) => Profiler?.Measure(OpCategories.Of(op), _stream);

    /// <summary>Compiles and caches this backend's kernels; its counts say how many NVRTC compiled and how many came from disk.</summary>
    public KernelCompiler Compiler => _kernels.Modules.Compiler;

    /// <summary>The stream every op is enqueued on.</summary>
    public CudaStream Stream => _stream;

    /// <inheritdoc/>
    public string Name => "cuda";

    /// <inheritdoc/>
    public DType ActivationDType { get; }

    /// <inheritdoc/>
    public IBackendMemory Memory => _memory;

    /// <inheritdoc/>
    /// <remarks>The peer has its own stream, workspace and cuBLAS handles, the same kernel cache, and the default op implementations.</remarks>
    public IOps CreatePeer(DType activationDType) => new CudaOps(Context, _options with { ActivationDType = activationDType, MatrixOps = null });

    private Tensor New(string op, DType dtype, TensorShape shape) => _memory.New(op, dtype, shape);

    private Tensor Workspace => _memory.Workspace;

    /// <summary>An op that is one planned launch: its output from memory, the plan enqueued, the time measured when profiling.</summary>
    private Tensor Launch(string op, TensorShape shape, Func<Tensor, IKernelPlan?> plan, DType? dtype = null)
    {
        using var region = Measure(op);
        var y = New(op, dtype ?? ActivationDType, shape);
        _kernels.Launch(_stream, plan(y));
        return y;
    }

    /// <inheritdoc/>
    public Tensor Empty(DType dtype, TensorShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return New(nameof(Empty), dtype, shape);
    }

    /// <inheritdoc/>
    public Tensor FromHost(Tensor host, DType? dtype = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (host.Storage.Kind != MemoryKind.Host || !host.DType.IsFloatingPoint())
        {
            throw OpShapes.Fail(nameof(FromHost), $"expects a floating-point host tensor, got {host}.");
        }

        var type = dtype ?? ActivationDType;
        if (type is not (DType.F32 or DType.F16 or DType.BF16))
        {
            throw OpShapes.Fail(nameof(FromHost), $"uploads to F32, F16 or BF16, not {type}.");
        }

        var converted = host.DType == type ? host.Contiguous() : host.To(type);
        var device = _memory.UploadTarget(type, host.Shape);
        _transfer.Upload(converted, device, _stream);
        return device;
    }

    /// <inheritdoc/>
    public Tensor ToHost(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        var source = x;
        if (!x.IsContiguous)
        {
            source = _memory.Unplanned(x.DType, x.Shape);
            _kernels.Launch(_stream, CopyStridedKernel.Plan(x, source));
        }

        return _transfer.ToHost(source, _stream).To(DType.F32);
    }

    /// <inheritdoc/>
    public Tensor Copy(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        return Launch(nameof(Copy), x.Shape, y => CopyStridedKernel.Plan(x, y), x.DType);
    }

    /// <summary>
    /// Uploads the filter packed (<see cref="ConvWeightLayout.Packed"/>: [Cout, kh, kw, Cin], or [Cout, kt, Cin] for a
    /// temporal [Cout, Cin, kt, 1, 1] one; each tap's input channels contiguous, the order Im2col.cu's hwc gather reads 16
    /// bytes at a time and the GEMM reads as [Cout, K]) and returns it addressed in PyTorch's order
    /// (<see cref="ConvWeights.TorchOrderView"/>); a 1x1 filter is the same either way and stays contiguous.
    /// </summary>
    public Tensor UploadConvWeight(Tensor host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var packable = host.Shape.Rank == 4 ? host.Shape[2] * host.Shape[3] > 1 : host.Shape.Rank == 5 && host.Shape[2] > 1 && host.Shape[3] * host.Shape[4] == 1;
        return packable ? ConvWeights.TorchOrderView(FromHost(ConvWeights.PackedOrderView(host))) : FromHost(host);
    }

    /// <inheritdoc/>
    public Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride, Padding2D padding, Tensor? perImage = null, Tensor? residual = null)
    {
        var (filter, layout) = FilterOf(weight);
        return Matrix(nameof(Conv2d), OpShapes.Conv2d(x, weight, bias, stride, padding, perImage, residual), y =>
            _matrixOps.Conv2d.Run(_opContext, new Conv2dArgs(x, filter, layout, bias, stride, padding, perImage, residual, y), Workspace));
    }

    /// <inheritdoc/>
    public Tensor TemporalConv(Tensor x, int frames, Tensor weight, Tensor? bias, Tensor? residual = null)
    {
        var (filter, layout) = FilterOf(weight);
        return Matrix(nameof(TemporalConv), OpShapes.TemporalConv(x, frames, weight, bias, residual), y =>
            _matrixOps.TemporalConv.Run(_opContext, new TemporalConvArgs(x, frames, filter, layout, bias, residual, y), Workspace));
    }

    /// <summary>A filter as <see cref="UploadConvWeight"/> made it (packed), or as a caller passed it (PyTorch's order).</summary>
    private static (Tensor Filter, ConvWeightLayout Layout) FilterOf(Tensor weight) =>
        ConvWeights.IsPackedView(weight) ? (ConvWeights.PackedFilter(weight), ConvWeightLayout.Packed) : (weight, ConvWeightLayout.Torch);

    /// <summary>A matrix op: its output from memory, run by the strategy <see cref="MatrixOps"/> holds, timed when profiling.</summary>
    private Tensor Matrix(string op, TensorShape shape, Action<Tensor> run)
    {
        using var region = Measure(op);
        var y = New(op, ActivationDType, shape);
        run(y);
        return y;
    }

    /// <inheritdoc/>
    public Tensor GroupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, int frames = 1) =>
        Normalize(nameof(GroupNorm), x, groups, gamma, beta, eps, frames, silu: false);

    /// <inheritdoc/>
    public Tensor GroupNormSilu(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, int frames = 1) =>
        Normalize(nameof(GroupNormSilu), x, groups, gamma, beta, eps, frames, silu: true);

    private Tensor Normalize(string op, Tensor x, int groups, Tensor gamma, Tensor beta, float eps, int frames, bool silu)
    {
        ArgumentNullException.ThrowIfNull(x);
        OpShapes.GroupNorm(x, groups, gamma, beta, frames);
        var statistics = _memory.WorkspaceAs(DType.F32, GroupNormKernel.WorkspaceElements(x.Shape, groups, frames));
        return Launch(op, x.Shape, y => GroupNormKernel.Plan(x, groups, gamma, beta, eps, frames, silu, statistics, y));
    }

    /// <inheritdoc/>
    public Tensor LayerNorm(Tensor x, Tensor gamma, Tensor beta, float eps)
    {
        ArgumentNullException.ThrowIfNull(x);
        OpShapes.LayerNorm(x, gamma, beta);
        return Launch(nameof(LayerNorm), x.Shape, y => LayerNormKernel.Plan(x, gamma, beta, eps, y));
    }

    /// <inheritdoc/>
    public Tensor Linear(Tensor x, Tensor weight, Tensor? bias, Tensor? residual = null) =>
        Matrix(nameof(Linear), OpShapes.Linear(x, weight, bias, residual), y => _matrixOps.Linear.Run(_opContext, new LinearArgs(x, weight, bias, residual, y), Workspace));

    /// <inheritdoc/>
    public Tensor Attention(Tensor q, Tensor k, Tensor v, int heads)
    {
        ArgumentNullException.ThrowIfNull(q);
        OpShapes.Attention(q, k, v, heads);
        return Matrix(nameof(Attention), q.Shape, y => _matrixOps.Attention.Run(_opContext, new AttentionArgs(q, k, v, heads, y), Workspace));
    }

    /// <inheritdoc/>
    public Tensor Silu(Tensor x) => Activate(nameof(Silu), Activation.Silu, x);

    /// <inheritdoc/>
    public Tensor Gelu(Tensor x) => Activate(nameof(Gelu), Activation.Gelu, x);

    /// <inheritdoc/>
    public Tensor QuickGelu(Tensor x) => Activate(nameof(QuickGelu), Activation.QuickGelu, x);

    private Tensor Activate(string op, Activation activation, Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        return Launch(op, x.Shape, y => ActivationsKernel.Plan(activation, x, y));
    }

    /// <inheritdoc/>
    public Tensor Geglu(Tensor x) => Launch(nameof(Geglu), OpShapes.Geglu(x), y => ActivationsKernel.PlanGeglu(x, y));

    /// <inheritdoc/>
    public Tensor Add(Tensor a, Tensor b)
    {
        OpShapes.SameShape(nameof(Add), a, b);
        return Launch(nameof(Add), a.Shape, y => AddKernel.Plan(a, b, y));
    }

    /// <inheritdoc/>
    public Tensor AddBroadcastRows(Tensor x, Tensor rows)
    {
        OpShapes.AddBroadcastRows(x, rows);
        return Launch(nameof(AddBroadcastRows), x.Shape, y => AddKernel.PlanRows(x, rows, y));
    }

    /// <inheritdoc/>
    public Tensor Concat(IReadOnlyList<Tensor> parts, int axis) =>
        Launch(nameof(Concat), OpShapes.Concat(parts, axis, out _), y => LayoutCopies.PlanConcat(parts, axis, y));

    /// <inheritdoc/>
    public Tensor UpsampleNearest(Tensor x, int outHeight, int outWidth) =>
        Launch(nameof(UpsampleNearest), OpShapes.Resize(nameof(UpsampleNearest), x, outHeight, outWidth), y => ResampleKernel.PlanNearest(x, y));

    /// <inheritdoc/>
    public Tensor AdaptiveAvgPool2d(Tensor x, int outHeight, int outWidth) =>
        Launch(nameof(AdaptiveAvgPool2d), OpShapes.Resize(nameof(AdaptiveAvgPool2d), x, outHeight, outWidth), y => ResampleKernel.PlanPool(x, y));

    /// <inheritdoc/>
    public Tensor TimestepFeatures(ReadOnlySpan<float> timesteps, int features, bool flipSinToCos, float downscaleFreqShift, float maxPeriod = 10000f)
    {
        var y = New(nameof(TimestepFeatures), ActivationDType, OpShapes.TimestepFeatures(timesteps.Length, features, downscaleFreqShift, maxPeriod));
        TimestepFeaturesUpload.Run(_transfer, _stream, timesteps, features, flipSinToCos, downscaleFreqShift, maxPeriod, y);
        return y;
    }

    /// <inheritdoc/>
    public Tensor FramesToSequences(Tensor x, int frames) =>
        Launch(nameof(FramesToSequences), OpShapes.FramesToSequences(x, frames), y => LayoutCopies.PlanFramesToSequences(x, frames, y));

    /// <inheritdoc/>
    public Tensor SequencesToFrames(Tensor x, int height, int width) =>
        Launch(nameof(SequencesToFrames), OpShapes.SequencesToFrames(x, height, width), y => LayoutCopies.PlanSequencesToFrames(x, height, width, y));

    /// <inheritdoc/>
    public Tensor NchwToNhwc(Tensor x) => Launch(nameof(NchwToNhwc), OpShapes.NchwToNhwc(x), y => LayoutCopies.PlanNchwToNhwc(x, y), x.DType);

    /// <inheritdoc/>
    public Tensor NhwcToNchw(Tensor x) => Launch(nameof(NhwcToNchw), OpShapes.NhwcToNchw(x), y => LayoutCopies.PlanNhwcToNchw(x, y), x.DType);

    /// <inheritdoc/>
    public Tensor NcfhwToNhwc(Tensor x) => Launch(nameof(NcfhwToNhwc), OpShapes.NcfhwToNhwc(x), y => LayoutCopies.PlanNcfhwToNhwc(x, y), x.DType);

    /// <inheritdoc/>
    public Tensor NhwcToNcfhw(Tensor x, int frames) => Launch(nameof(NhwcToNcfhw), OpShapes.NhwcToNcfhw(x, frames), y => LayoutCopies.PlanNhwcToNcfhw(x, frames, y), x.DType);

    /// <inheritdoc/>
    public void DdimStep(Tensor modelOutput, Tensor latents, DdimStepSettings settings, Tensor? noise = null, Tensor? nextInput = null)
    {
        using var region = Measure(nameof(DdimStep));
        OpShapes.DdimStep(modelOutput, latents, settings, noise, nextInput, ActivationDType);
        _kernels.Launch(_stream, DdimStepKernel.Plan(modelOutput, latents, settings.Coefficients, settings.Prediction, settings.Guidance, settings.ClipRange, noise, nextInput));
    }

    /// <inheritdoc/>
    public long CountNonFinite(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        var counter = _memory.Unplanned(DType.I64, new TensorShape(1));
        CountNonFinite(x, counter);
        return _transfer.ToHost(counter, _stream).AsSpan<long>()[0];
    }

    /// <inheritdoc/>
    /// <remarks>The launcher checks that the counter is an I64 device tensor.</remarks>
    public void CountNonFinite(Tensor x, Tensor counter) => _kernels.Launch(_stream, NonFiniteKernel.Plan(x, counter));

    /// <inheritdoc/>
    public void CopyInto(Tensor source, Tensor destination)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        if (source.DType != destination.DType || source.Shape != destination.Shape || !destination.IsContiguous)
        {
            throw OpShapes.Fail(nameof(CopyInto), $"the destination must be a contiguous {source.DType} {source.Shape}, got {destination.DType} {destination.Shape}.");
        }

        _kernels.Launch(_stream, CopyStridedKernel.Plan(source, destination));
    }

    /// <inheritdoc/>
    public void SamplerPredict(Tensor modelOutput, Tensor latents, Tensor prediction, SamplerPrediction settings)
    {
        using var region = Measure(nameof(SamplerPredict));
        OpShapes.SamplerPredict(modelOutput, latents, prediction, settings, ActivationDType);
        _kernels.Launch(_stream, SamplerStepKernel.PlanPredict(modelOutput, latents, prediction, settings));
    }

    /// <inheritdoc/>
    public void SamplerCombine(Tensor latents, IReadOnlyList<Tensor> history, SamplerCombination combination, Tensor? lastSample = null, Tensor? nextInput = null)
    {
        using var region = Measure(nameof(SamplerCombine));
        OpShapes.SamplerCombine(latents, history, combination, lastSample, nextInput, ActivationDType);
        _kernels.Launch(_stream, SamplerStepKernel.PlanCombine(latents, history, combination, lastSample, nextInput));
    }

    /// <summary>Frees everything (once; later calls do nothing).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _memory.Dispose();
        _transfer.Dispose();
        _blasLt.Dispose();
        _blas.Dispose();
        _kernels.Dispose();
        _stream.Dispose();
        if (_ownsContext)
        {
            Context.Dispose();
        }
    }
}
