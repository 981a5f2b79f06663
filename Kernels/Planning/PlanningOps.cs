using CudaI2V.Kernels.Memory;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Planning;

/// <summary>
/// An <see cref="IOps"/> that computes nothing: it checks every call's shapes exactly as a real backend does,
/// hands out shape-only tensors, and records for each tensor an op creates its size, the step that wrote it and
/// the last step that read it. Running a model's forward through it yields the <see cref="ArenaPlan"/> of that
/// forward (what the CUDA backend needs to run it without allocating), and the bytes of the weights it bound.
/// Reads are tracked per storage, so views (reshape, slice) count for the tensor they view.
/// </summary>
public sealed class PlanningOps : IOps
{
    private readonly List<Record> _records = [];
    private readonly Dictionary<TensorStorage, int> _ids = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, double> _flops = [];
    private int _step;

    /// <summary>A recorder whose tensors have <paramref name="activationDType"/> (the dtype of the backend being planned for).</summary>
    public PlanningOps(DType activationDType = DType.F16)
    {
        ActivationDType = activationDType;
        Memory = new PlanningMemory(this);
    }

    /// <inheritdoc/>
    public string Name => "plan";

    /// <inheritdoc/>
    public IBackendMemory Memory { get; }

    /// <summary>A tensor of <paramref name="shape"/> with no bytes behind it, for binding release-sized weights by shape only.</summary>
    public static Tensor ShapeOnly(DType dtype, TensorShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return Tensor.View(new PlannedStorage(Math.Max(shape.ElementCount * dtype.SizeOf(), 1)), 0, dtype, shape);
    }

    /// <inheritdoc/>
    public DType ActivationDType { get; }

    /// <summary>Bytes of everything that came in through <see cref="FromHost"/> (weights and inputs), in the activation dtype.</summary>
    public long HostBytes { get; private set; }

    /// <summary>Floating-point operations of the recorded work, counted for the matrix-shaped ops (2 per multiply-add).</summary>
    public double Flops => _flops.Values.Sum();

    /// <summary><see cref="Flops"/> by <see cref="OpCategories"/> category.</summary>
    public IReadOnlyDictionary<string, double> FlopsByCategory => _flops;

    /// <summary>Tensors created by ops so far.</summary>
    public int TensorCount => _records.Count;

    /// <summary>
    /// The bytes of every tensor ops created since the recording began, without reuse: what a backend holds when work
    /// runs outside an arena, in a scope that frees it only when it ends (such as a request's conditioning).
    /// </summary>
    public long RecordedBytes => _records.Sum(r => r.Bytes);

    /// <summary>Ops run so far.</summary>
    public int Steps => _step;

    /// <summary>
    /// Forgets what was recorded so far: tensors created before become inputs from outside the plan (for example a
    /// request's conditioning, planned apart from the step that reads it). FLOPs are counted afresh too.
    /// </summary>
    public void BeginRecording()
    {
        _records.Clear();
        _ids.Clear();
        _flops.Clear();
        _step = 0;
    }

    /// <summary>
    /// The plan of everything recorded: one buffer per tensor an op created, alive from its op to the last op
    /// that read it; <paramref name="keep"/> (the outputs) stay alive to the end.
    /// </summary>
    public ArenaPlan Plan(params IEnumerable<Tensor> keep)
    {
        ArgumentNullException.ThrowIfNull(keep);
        var kept = new HashSet<int>(keep.Select(t => _ids.TryGetValue(t.Storage, out var id) ? id : -1));
        var plan = new ArenaPlan();
        foreach (var r in _records)
        {
            plan.Add($"{r.Op}#{r.Id}", r.Bytes, r.Created, kept.Contains(r.Id) ? _step : Math.Max(r.Created, r.LastRead));
        }

        plan.Pack();
        return plan;
    }

    private sealed class Record(int id, string op, long bytes, int created)
    {
        public int Id { get; } = id;

        public string Op { get; } = op;

        public long Bytes { get; } = bytes;

        public int Created { get; } = created;

        public int LastRead { get; set; } = -1;
    }

    private sealed class PlannedStorage(long bytes) : TensorStorage
    {
        public override long ByteLength => bytes;

        public override MemoryKind Kind => MemoryKind.Device;
    }

    private void Count(string op, double flops)
    {
        var category = OpCategories.Of(op);
        _flops[category] = _flops.GetValueOrDefault(category) + flops;
    }

    private void Read(params ReadOnlySpan<Tensor?> inputs)
    {
        foreach (var t in inputs)
        {
            if (t is not null && _ids.TryGetValue(t.Storage, out var id))
            {
                _records[id].LastRead = _step;
            }
        }
    }

    private Tensor Create(string op, TensorShape shape, DType? dtype = null)
    {
        var type = dtype ?? ActivationDType;
        var storage = new PlannedStorage(Math.Max(shape.ElementCount * type.SizeOf(), 1));
        _ids[storage] = _records.Count;
        _records.Add(new Record(_records.Count, op, storage.ByteLength, _step));
        _step++;
        return Tensor.View(storage, 0, type, shape);
    }

    private Tensor Op(string op, TensorShape shape, params ReadOnlySpan<Tensor?> inputs)
    {
        Read(inputs);
        return Create(op, shape);
    }

    /// <inheritdoc/>
    public Tensor Empty(DType dtype, TensorShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return Create(nameof(Empty), shape, dtype);
    }

    /// <inheritdoc/>
    public Tensor FromHost(Tensor host, DType? dtype = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (!host.DType.IsFloatingPoint())
        {
            throw OpShapes.Fail(nameof(FromHost), $"expects a floating-point host tensor, got {host}.");
        }

        // Weights and inputs live outside the activation arena: count them, do not plan them.
        var type = dtype ?? ActivationDType;
        HostBytes += host.ElementCount * type.SizeOf();
        return Tensor.View(new PlannedStorage(Math.Max(host.ElementCount * type.SizeOf(), 1)), 0, type, host.Shape);
    }

    /// <inheritdoc/>
    public Tensor ToHost(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        Read(x);
        _step++;
        return Tensor.Zeros(DType.F32, x.Shape);
    }

    /// <inheritdoc/>
    public Tensor Copy(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        return Op(nameof(Copy), x.Shape, x);
    }

    /// <inheritdoc/>
    public Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride, Padding2D padding, Tensor? perImage = null, Tensor? residual = null)
    {
        var shape = OpShapes.Conv2d(x, weight, bias, stride, padding, perImage, residual);
        Count(nameof(Conv2d), 2.0 * shape.ElementCount * (weight.Shape.ElementCount / weight.Shape[0]));
        return Op(nameof(Conv2d), shape, x, weight, bias, perImage, residual);
    }

    /// <inheritdoc/>
    public Tensor TemporalConv(Tensor x, int frames, Tensor weight, Tensor? bias, Tensor? residual = null)
    {
        var shape = OpShapes.TemporalConv(x, frames, weight, bias, residual);
        Count(nameof(TemporalConv), 2.0 * shape.ElementCount * (weight.Shape.ElementCount / weight.Shape[0]));
        return Op(nameof(TemporalConv), shape, x, weight, bias, residual);
    }

    /// <inheritdoc/>
    public Tensor GroupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, int frames = 1)
    {
        OpShapes.GroupNorm(x, groups, gamma, beta, frames);
        return Op(nameof(GroupNorm), x.Shape, x, gamma, beta);
    }

    /// <inheritdoc/>
    public Tensor GroupNormSilu(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, int frames = 1)
    {
        OpShapes.GroupNorm(x, groups, gamma, beta, frames);
        return Op(nameof(GroupNormSilu), x.Shape, x, gamma, beta);
    }

    /// <inheritdoc/>
    public Tensor LayerNorm(Tensor x, Tensor gamma, Tensor beta, float eps)
    {
        OpShapes.LayerNorm(x, gamma, beta);
        return Op(nameof(LayerNorm), x.Shape, x, gamma, beta);
    }

    /// <inheritdoc/>
    public Tensor Linear(Tensor x, Tensor weight, Tensor? bias, Tensor? residual = null)
    {
        var shape = OpShapes.Linear(x, weight, bias, residual);
        Count(nameof(Linear), 2.0 * shape.ElementCount * weight.Shape[1]);
        return Op(nameof(Linear), shape, x, weight, bias, residual);
    }

    /// <inheritdoc/>
    public Tensor Attention(Tensor q, Tensor k, Tensor v, int heads)
    {
        OpShapes.Attention(q, k, v, heads);

        // Q K^T and P V: 2 * 2 * B * Lq * Lk * (heads * d) operations, per query row whether or not k and v are
        // shared by groups of q's rows (a shared context is read by every row of its group all the same).
        Count(nameof(Attention), 4.0 * q.Shape[0] * q.Shape[1] * k.Shape[1] * q.Shape[2]);
        return Op(nameof(Attention), q.Shape, q, k, v);
    }

    /// <inheritdoc/>
    public Tensor Silu(Tensor x) => Unary(nameof(Silu), x);

    /// <inheritdoc/>
    public Tensor Gelu(Tensor x) => Unary(nameof(Gelu), x);

    /// <inheritdoc/>
    public Tensor QuickGelu(Tensor x) => Unary(nameof(QuickGelu), x);

    /// <inheritdoc/>
    public Tensor Geglu(Tensor x) => Op(nameof(Geglu), OpShapes.Geglu(x), x);

    /// <inheritdoc/>
    public Tensor Add(Tensor a, Tensor b)
    {
        OpShapes.SameShape(nameof(Add), a, b);
        return Op(nameof(Add), a.Shape, a, b);
    }

    /// <inheritdoc/>
    public Tensor AddBroadcastRows(Tensor x, Tensor rows)
    {
        OpShapes.AddBroadcastRows(x, rows);
        return Op(nameof(AddBroadcastRows), x.Shape, x, rows);
    }

    /// <inheritdoc/>
    public Tensor Concat(IReadOnlyList<Tensor> parts, int axis)
    {
        ArgumentNullException.ThrowIfNull(parts);
        var shape = OpShapes.Concat(parts, axis, out _);
        foreach (var part in parts)
        {
            Read(part);
        }

        return Create(nameof(Concat), shape);
    }

    /// <inheritdoc/>
    public Tensor UpsampleNearest(Tensor x, int outHeight, int outWidth) =>
        Op(nameof(UpsampleNearest), OpShapes.Resize(nameof(UpsampleNearest), x, outHeight, outWidth), x);

    /// <inheritdoc/>
    public Tensor AdaptiveAvgPool2d(Tensor x, int outHeight, int outWidth) =>
        Op(nameof(AdaptiveAvgPool2d), OpShapes.Resize(nameof(AdaptiveAvgPool2d), x, outHeight, outWidth), x);

    /// <inheritdoc/>
    public Tensor TimestepFeatures(ReadOnlySpan<float> timesteps, int features, bool flipSinToCos, float downscaleFreqShift, float maxPeriod = 10000f) =>
        Create(nameof(TimestepFeatures), OpShapes.TimestepFeatures(timesteps.Length, features, downscaleFreqShift, maxPeriod));

    /// <inheritdoc/>
    public Tensor FramesToSequences(Tensor x, int frames) => Op(nameof(FramesToSequences), OpShapes.FramesToSequences(x, frames), x);

    /// <inheritdoc/>
    public Tensor SequencesToFrames(Tensor x, int height, int width) => Op(nameof(SequencesToFrames), OpShapes.SequencesToFrames(x, height, width), x);

    /// <inheritdoc/>
    public Tensor NchwToNhwc(Tensor x) => Op(nameof(NchwToNhwc), OpShapes.NchwToNhwc(x), x);

    /// <inheritdoc/>
    public Tensor NhwcToNchw(Tensor x) => Op(nameof(NhwcToNchw), OpShapes.NhwcToNchw(x), x);

    /// <inheritdoc/>
    public Tensor NcfhwToNhwc(Tensor x) => Op(nameof(NcfhwToNhwc), OpShapes.NcfhwToNhwc(x), x);

    /// <inheritdoc/>
    public Tensor NhwcToNcfhw(Tensor x, int frames) => Op(nameof(NhwcToNcfhw), OpShapes.NhwcToNcfhw(x, frames), x);

    private Tensor Unary(string op, Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        return Op(op, x.Shape, x);
    }

    /// <inheritdoc/>
    public void DdimStep(Tensor modelOutput, Tensor latents, DdimStepSettings settings, Tensor? noise = null, Tensor? nextInput = null)
    {
        OpShapes.DdimStep(modelOutput, latents, settings, noise, nextInput, ActivationDType);
        Read(modelOutput, latents, noise, nextInput);
        _step++;
    }

    /// <inheritdoc/>
    public long CountNonFinite(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        Read(x);
        _step++;
        return 0;
    }

    /// <inheritdoc/>
    public void CountNonFinite(Tensor x, Tensor counter)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(counter);
        Read(x, counter);
        _step++;
    }

    /// <inheritdoc/>
    public void CopyInto(Tensor source, Tensor destination)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        if (source.DType != destination.DType || source.Shape != destination.Shape)
        {
            throw OpShapes.Fail(nameof(CopyInto), $"the destination must be a {source.DType} {source.Shape}, got {destination.DType} {destination.Shape}.");
        }

        Read(source, destination);
        _step++;
    }

    /// <summary>A read of <paramref name="x"/> by the host (it stays alive until then).</summary>
    internal void ReadForHost(Tensor x)
    {
        Read(x);
        _step++;
    }

    /// <inheritdoc/>
    public void SamplerPredict(Tensor modelOutput, Tensor latents, Tensor prediction, SamplerPrediction settings)
    {
        OpShapes.SamplerPredict(modelOutput, latents, prediction, settings, ActivationDType);
        Read(modelOutput, latents, prediction);
        _step++;
    }

    /// <inheritdoc/>
    public void SamplerCombine(Tensor latents, IReadOnlyList<Tensor> history, SamplerCombination combination, Tensor? lastSample = null, Tensor? nextInput = null)
    {
        OpShapes.SamplerCombine(latents, history, combination, lastSample, nextInput, ActivationDType);
        Read(latents, lastSample, nextInput);
        foreach (var h in history)
        {
            Read(h);
        }

        _step++;
    }
}
