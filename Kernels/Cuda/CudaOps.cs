using CudaI2V.Kernels.Memory;
using CudaI2V.Runtime.Blas;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Compilation;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda;

/// <summary>How a <see cref="CudaOps"/> runs.</summary>
/// <param name="ActivationDType">fp16 (default), bf16 or fp32 storage of weights and activations (fp32: the VAE when upcast).</param>
/// <param name="WorkspaceBytes">The one scratch block ops share (im2col rows, attention scores, norm statistics); ops chunk their work to fit it.</param>
/// <param name="Cache">Where compiled kernels are kept between runs (none: compile every run).</param>
/// <param name="GemmOps">The convolution, linear and attention implementations (<see cref="GemmOpSet.Default"/> when null); swap one to compare a faster kernel.</param>
public sealed record CudaOpsOptions(DType ActivationDType = DType.F16, long WorkspaceBytes = 256L << 20, CacheRoot? Cache = null, GemmOpSet? GemmOps = null);

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
    private GemmOpSet _gemm;
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
        _gemm = options.GemmOps ?? GemmOpSet.Default();
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
    public GemmOpSet GemmOps
    {
        get => _gemm;
        set => _gemm = value ?? throw new ArgumentNullException(nameof(value));
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
    public IOps CreatePeer(DType activationDType) => new CudaOps(Context, _options with { ActivationDType = activationDType, GemmOps = null });

    private Tensor New(string op, DType dtype, TensorShape shape) => _memory.New(op, dtype, shape);

    private Tensor New(string op, TensorShape shape) => _memory.New(op, ActivationDType, shape);

    private Tensor Workspace => _memory.Workspace;

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
            CopyStridedKernel.Run(_kernels, _stream, x, source);
        }

        return _transfer.ToHost(source, _stream).To(DType.F32);
    }

    /// <inheritdoc/>
    public Tensor Copy(Tensor x)
    {
        using var region = Measure(nameof(Copy));
        ArgumentNullException.ThrowIfNull(x);
        var y = New(nameof(Copy), x.DType, x.Shape);
        CopyStridedKernel.Run(_kernels, _stream, x, y);
        return y;
    }

    /// <summary>
    /// Uploads the filter packed as [Cout, kh, kw, Cin] (<see cref="ConvWeightLayout.Packed"/>: each tap's input
    /// channels contiguous, the order Im2col.cu's hwc gather writes 16 bytes at a time and the GEMM reads as
    /// [Cout, K]) and returns it addressed as [Cout, Cin, kh, kw]; a 1x1 filter is the same either way and stays
    /// contiguous.
    /// </summary>
    public Tensor UploadConvWeight(Tensor host)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (host.Shape.Rank != 4 || host.Shape[2] * host.Shape[3] == 1)
        {
            return FromHost(host);
        }

        return FromHost(ConvWeights.PackedOrderView(host)).Permute(0, 3, 1, 2);
    }

    /// <inheritdoc/>
    public Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride, Padding2D padding, Tensor? perImage = null, Tensor? residual = null)
    {
        using var region = Measure(nameof(Conv2d));
        var y = New(nameof(Conv2d), OpShapes.Conv2d(x, weight, bias, stride, padding, perImage, residual));
        var (filter, layout) = ConvWeights.IsPackedView(weight) ? (weight.Permute(0, 2, 3, 1), ConvWeightLayout.Packed) : (weight, ConvWeightLayout.Torch);
        _gemm.Conv2d.Run(_opContext, new Conv2dArgs(x, filter, layout, bias, stride, padding, perImage, residual, y), Workspace);
        return y;
    }

    /// <inheritdoc/>
    public Tensor TemporalConv(Tensor x, int frames, Tensor weight, Tensor? bias, Tensor? residual = null)
    {
        using var region = Measure(nameof(TemporalConv));
        var y = New(nameof(TemporalConv), OpShapes.TemporalConv(x, frames, weight, bias, residual));
        _gemm.TemporalConv.Run(_opContext, new TemporalConvArgs(x, frames, weight, ConvWeightLayout.Torch, bias, residual, y), Workspace);
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
        using var region = Measure(op);
        ArgumentNullException.ThrowIfNull(x);
        OpShapes.GroupNorm(x, groups, gamma, beta, frames);
        var y = New(op, x.Shape);
        var statistics = _memory.WorkspaceAs(DType.F32, GroupNormKernel.WorkspaceElements(x.Shape, groups, frames));
        GroupNormKernel.Run(_kernels, _stream, x, groups, gamma, beta, eps, frames, silu, statistics, y);
        return y;
    }

    /// <inheritdoc/>
    public Tensor LayerNorm(Tensor x, Tensor gamma, Tensor beta, float eps)
    {
        using var region = Measure(nameof(LayerNorm));
        ArgumentNullException.ThrowIfNull(x);
        OpShapes.LayerNorm(x, gamma, beta);
        var y = New(nameof(LayerNorm), x.Shape);
        LayerNormKernel.Run(_kernels, _stream, x, gamma, beta, eps, y);
        return y;
    }

    /// <inheritdoc/>
    public Tensor Linear(Tensor x, Tensor weight, Tensor? bias, Tensor? residual = null)
    {
        using var region = Measure(nameof(Linear));
        var y = New(nameof(Linear), OpShapes.Linear(x, weight, bias, residual));
        _gemm.Linear.Run(_opContext, new LinearArgs(x, weight, bias, residual, y), Workspace);
        return y;
    }

    /// <inheritdoc/>
    public Tensor Attention(Tensor q, Tensor k, Tensor v, int heads)
    {
        using var region = Measure(nameof(Attention));
        ArgumentNullException.ThrowIfNull(q);
        OpShapes.Attention(q, k, v, heads);
        var y = New(nameof(Attention), q.Shape);
        _gemm.Attention.Run(_opContext, new AttentionArgs(q, k, v, heads, y), Workspace);
        return y;
    }

    /// <inheritdoc/>
    public Tensor Silu(Tensor x) => Activate(nameof(Silu), Activation.Silu, x);

    /// <inheritdoc/>
    public Tensor Gelu(Tensor x) => Activate(nameof(Gelu), Activation.Gelu, x);

    /// <inheritdoc/>
    public Tensor QuickGelu(Tensor x) => Activate(nameof(QuickGelu), Activation.QuickGelu, x);

    private Tensor Activate(string op, Activation activation, Tensor x)
    {
        using var region = Measure(op);
        ArgumentNullException.ThrowIfNull(x);
        var y = New(op, x.Shape);
        ActivationsKernel.Run(_kernels, _stream, activation, x, y);
        return y;
    }

    /// <inheritdoc/>
    public Tensor Geglu(Tensor x)
    {
        using var region = Measure(nameof(Geglu));
        var y = New(nameof(Geglu), OpShapes.Geglu(x));
        ActivationsKernel.RunGeglu(_kernels, _stream, x, y);
        return y;
    }

    /// <inheritdoc/>
    public Tensor Add(Tensor a, Tensor b)
    {
        using var region = Measure(nameof(Add));
        OpShapes.SameShape(nameof(Add), a, b);
        var y = New(nameof(Add), a.Shape);
        AddKernel.Run(_kernels, _stream, a, b, y);
        return y;
    }

    /// <inheritdoc/>
    public Tensor AddBroadcastRows(Tensor x, Tensor rows)
    {
        using var region = Measure(nameof(AddBroadcastRows));
        OpShapes.AddBroadcastRows(x, rows);
        var y = New(nameof(AddBroadcastRows), x.Shape);
        AddKernel.RunRows(_kernels, _stream, x, rows, y);
        return y;
    }

    /// <inheritdoc/>
    public Tensor Concat(IReadOnlyList<Tensor> parts, int axis)
    {
        using var region = Measure(nameof(Concat));
        var y = New(nameof(Concat), OpShapes.Concat(parts, axis, out _));
        LayoutCopies.Run(_kernels, _stream, LayoutCopies.PlanConcat(parts, axis, y));
        return y;
    }

    /// <inheritdoc/>
    public Tensor UpsampleNearest(Tensor x, int outHeight, int outWidth)
    {
        using var region = Measure(nameof(UpsampleNearest));
        var y = New(nameof(UpsampleNearest), OpShapes.Resize(nameof(UpsampleNearest), x, outHeight, outWidth));
        ResampleKernel.RunNearest(_kernels, _stream, x, y);
        return y;
    }

    /// <inheritdoc/>
    public Tensor AdaptiveAvgPool2d(Tensor x, int outHeight, int outWidth)
    {
        using var region = Measure(nameof(AdaptiveAvgPool2d));
        var y = New(nameof(AdaptiveAvgPool2d), OpShapes.Resize(nameof(AdaptiveAvgPool2d), x, outHeight, outWidth));
        ResampleKernel.RunPool(_kernels, _stream, x, y);
        return y;
    }

    /// <inheritdoc/>
    public Tensor TimestepFeatures(ReadOnlySpan<float> timesteps, int features, bool flipSinToCos, float downscaleFreqShift, float maxPeriod = 10000f)
    {
        var y = New(nameof(TimestepFeatures), OpShapes.TimestepFeatures(timesteps.Length, features, downscaleFreqShift, maxPeriod));
        TimestepFeaturesUpload.Run(_transfer, _stream, timesteps, features, flipSinToCos, downscaleFreqShift, maxPeriod, y);
        return y;
    }

    /// <inheritdoc/>
    public Tensor FramesToSequences(Tensor x, int frames)
    {
        using var region = Measure(nameof(FramesToSequences));
        var y = New(nameof(FramesToSequences), OpShapes.FramesToSequences(x, frames));
        LayoutCopies.Run(_kernels, _stream, LayoutCopies.PlanFramesToSequences(x, frames, y));
        return y;
    }

    /// <inheritdoc/>
    public Tensor SequencesToFrames(Tensor x, int height, int width)
    {
        using var region = Measure(nameof(SequencesToFrames));
        var y = New(nameof(SequencesToFrames), OpShapes.SequencesToFrames(x, height, width));
        LayoutCopies.Run(_kernels, _stream, LayoutCopies.PlanSequencesToFrames(x, height, width, y));
        return y;
    }

    /// <inheritdoc/>
    public Tensor NchwToNhwc(Tensor x) => Layout(nameof(NchwToNhwc), x, OpShapes.NchwToNhwc(x), y => LayoutCopies.PlanNchwToNhwc(x, y));

    /// <inheritdoc/>
    public Tensor NhwcToNchw(Tensor x) => Layout(nameof(NhwcToNchw), x, OpShapes.NhwcToNchw(x), y => LayoutCopies.PlanNhwcToNchw(x, y));

    /// <inheritdoc/>
    public Tensor NcfhwToNhwc(Tensor x) => Layout(nameof(NcfhwToNhwc), x, OpShapes.NcfhwToNhwc(x), y => LayoutCopies.PlanNcfhwToNhwc(x, y));

    /// <inheritdoc/>
    public Tensor NhwcToNcfhw(Tensor x, int frames) => Layout(nameof(NhwcToNcfhw), x, OpShapes.NhwcToNcfhw(x, frames), y => LayoutCopies.PlanNhwcToNcfhw(x, frames, y));

    /// <summary>A layout conversion: a new tensor of x's dtype in <paramref name="shape"/>, filled by one planned copy.</summary>
    private Tensor Layout(string op, Tensor x, TensorShape shape, Func<Tensor, LayoutCopy> plan)
    {
        var y = New(op, x.DType, shape);
        LayoutCopies.Run(_kernels, _stream, plan(y));
        return y;
    }

    /// <inheritdoc/>
    public void DdimStep(Tensor modelOutput, Tensor latents, DdimStepSettings settings, Tensor? noise = null, Tensor? nextInput = null)
    {
        using var region = Measure(nameof(DdimStep));
        OpShapes.DdimStep(modelOutput, latents, settings, noise, nextInput, ActivationDType);
        DdimStepKernel.Run(_kernels, _stream, modelOutput, latents, settings.Coefficients, settings.Prediction, settings.Guidance, settings.ClipRange, noise, nextInput);
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
    public void CountNonFinite(Tensor x, Tensor counter)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(counter);
        if (counter.DType != DType.I64 || counter.ElementCount != 1 || counter.Storage.Kind != MemoryKind.Device)
        {
            throw OpShapes.Fail(nameof(CountNonFinite), $"counter must be one I64 device element, got {counter}.");
        }

        NonFiniteKernel.Run(_kernels, _stream, x, counter);
    }

    /// <inheritdoc/>
    public void CopyInto(Tensor source, Tensor destination)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        if (source.DType != destination.DType || source.Shape != destination.Shape || !destination.IsContiguous)
        {
            throw OpShapes.Fail(nameof(CopyInto), $"the destination must be a contiguous {source.DType} {source.Shape}, got {destination.DType} {destination.Shape}.");
        }

        CopyStridedKernel.Run(_kernels, _stream, source, destination);
    }

    /// <inheritdoc/>
    public void SamplerPredict(Tensor modelOutput, Tensor latents, Tensor prediction, SamplerPrediction settings)
    {
        using var region = Measure(nameof(SamplerPredict));
        OpShapes.SamplerPredict(modelOutput, latents, prediction, settings, ActivationDType);
        SamplerStepKernel.RunPredict(_kernels, _stream, modelOutput, latents, prediction, settings);
    }

    /// <inheritdoc/>
    public void SamplerCombine(Tensor latents, IReadOnlyList<Tensor> history, SamplerCombination combination, Tensor? lastSample = null, Tensor? nextInput = null)
    {
        using var region = Measure(nameof(SamplerCombine));
        OpShapes.SamplerCombine(latents, history, combination, lastSample, nextInput, ActivationDType);
        SamplerStepKernel.RunCombine(_kernels, _stream, latents, history, combination, lastSample, nextInput);
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
