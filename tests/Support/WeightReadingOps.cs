using CudaI2V.Kernels;
using CudaI2V.Kernels.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Support;

/// <summary>
/// A recording backend: every op runs on <paramref name="inner"/>, and each weight an op reads (a tensor uploaded while
/// <see cref="Uploading"/> named its key) is recorded by that key in <see cref="Read"/>. A test loads a model through it
/// from a generated weight set whose maker sets <see cref="Uploading"/>, clears <see cref="Read"/>, runs a forward, and
/// sees which modules' weights the forward touched.
/// </summary>
public sealed class WeightReadingOps(IOps inner) : IOps
{
    private readonly Dictionary<object, string> _keys = new(ReferenceEqualityComparer.Instance);

    /// <summary>The key of the weight being uploaded (set by the weight set's maker just before its upload).</summary>
    public string? Uploading { get; set; }

    /// <summary>The keys of the weights read since last cleared.</summary>
    public HashSet<string> Read { get; } = [];

    public string Name => inner.Name;

    public DType ActivationDType => inner.ActivationDType;

    public IBackendMemory Memory => inner.Memory;

    public Tensor Empty(DType dtype, TensorShape shape) => inner.Empty(dtype, shape);

    public Tensor FromHost(Tensor host, DType? dtype = null) => Named(inner.FromHost(host, dtype));

    public Tensor UploadConvWeight(Tensor host) => Named(inner.UploadConvWeight(host));

    public Tensor ToHost(Tensor x) => inner.ToHost(x);

    public Tensor Copy(Tensor x) => inner.Copy(x);

    public Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride, Padding2D padding, Tensor? perImage = null, Tensor? residual = null) =>
        inner.Conv2d(x, Seen(weight)!, Seen(bias), stride, padding, perImage, residual);

    public Tensor TemporalConv(Tensor x, int frames, Tensor weight, Tensor? bias, Tensor? residual = null) =>
        inner.TemporalConv(x, frames, Seen(weight)!, Seen(bias), residual);

    public Tensor GroupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, int frames = 1) =>
        inner.GroupNorm(x, groups, Seen(gamma)!, Seen(beta)!, eps, frames);

    public Tensor GroupNormSilu(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, int frames = 1) =>
        inner.GroupNormSilu(x, groups, Seen(gamma)!, Seen(beta)!, eps, frames);

    public Tensor LayerNorm(Tensor x, Tensor gamma, Tensor beta, float eps) => inner.LayerNorm(x, Seen(gamma)!, Seen(beta)!, eps);

    public Tensor Linear(Tensor x, Tensor weight, Tensor? bias, Tensor? residual = null) => inner.Linear(x, Seen(weight)!, Seen(bias), residual);

    public Tensor Attention(Tensor q, Tensor k, Tensor v, int heads) => inner.Attention(q, k, v, heads);

    public Tensor Silu(Tensor x) => inner.Silu(x);

    public Tensor Gelu(Tensor x) => inner.Gelu(x);

    public Tensor QuickGelu(Tensor x) => inner.QuickGelu(x);

    public Tensor Geglu(Tensor x) => inner.Geglu(x);

    public Tensor Add(Tensor a, Tensor b) => inner.Add(Seen(a)!, Seen(b)!);

    public Tensor AddBroadcastRows(Tensor x, Tensor rows) => inner.AddBroadcastRows(x, Seen(rows)!);

    public Tensor Concat(IReadOnlyList<Tensor> parts, int axis) => inner.Concat(parts, axis);

    public Tensor UpsampleNearest(Tensor x, int outHeight, int outWidth) => inner.UpsampleNearest(x, outHeight, outWidth);

    public Tensor AdaptiveAvgPool2d(Tensor x, int outHeight, int outWidth) => inner.AdaptiveAvgPool2d(x, outHeight, outWidth);

    public Tensor TimestepFeatures(ReadOnlySpan<float> timesteps, int features, bool flipSinToCos, float downscaleFreqShift, float maxPeriod = 10000f) =>
        inner.TimestepFeatures(timesteps, features, flipSinToCos, downscaleFreqShift, maxPeriod);

    public Tensor FramesToSequences(Tensor x, int frames) => inner.FramesToSequences(x, frames);

    public Tensor SequencesToFrames(Tensor x, int height, int width) => inner.SequencesToFrames(x, height, width);

    public Tensor NchwToNhwc(Tensor x) => inner.NchwToNhwc(x);

    public Tensor NhwcToNchw(Tensor x) => inner.NhwcToNchw(x);

    public Tensor NcfhwToNhwc(Tensor x) => inner.NcfhwToNhwc(x);

    public Tensor NhwcToNcfhw(Tensor x, int frames) => inner.NhwcToNcfhw(x, frames);

    public void DdimStep(Tensor modelOutput, Tensor latents, DdimStepSettings settings, Tensor? noise = null, Tensor? nextInput = null) =>
        inner.DdimStep(modelOutput, latents, settings, noise, nextInput);

    public long CountNonFinite(Tensor x) => inner.CountNonFinite(x);

    public void CountNonFinite(Tensor x, Tensor counter) => inner.CountNonFinite(x, counter);

    public void CopyInto(Tensor source, Tensor destination) => inner.CopyInto(source, destination);

    public void SamplerPredict(Tensor modelOutput, Tensor latents, Tensor prediction, SamplerPrediction settings) =>
        inner.SamplerPredict(modelOutput, latents, prediction, settings);

    public void SamplerCombine(Tensor latents, IReadOnlyList<Tensor> history, SamplerCombination combination, Tensor? lastSample = null, Tensor? nextInput = null) =>
        inner.SamplerCombine(latents, history, combination, lastSample, nextInput);

    private Tensor Named(Tensor uploaded)
    {
        if (Uploading is { } key)
        {
            _keys[uploaded.Storage] = key;
            Uploading = null;
        }

        return uploaded;
    }

    private Tensor? Seen(Tensor? x)
    {
        if (x is not null && _keys.TryGetValue(x.Storage, out var key))
        {
            Read.Add(key);
        }

        return x;
    }
}
