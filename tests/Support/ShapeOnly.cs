using CudaI2V.Kernels;
using CudaI2V.Kernels.Memory;
using CudaI2V.Loader;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Support;

/// <summary>
/// Shapes without data, to check that a model built from a release-sized config binds every key of a
/// manifest by name and shape (1.4 billion parameters never allocated).
/// </summary>
public static class ShapeOnly
{
    /// <summary>A weight set whose tensors have the manifest's dtypes and shapes and no readable bytes.</summary>
    public static WeightSet FromManifest(string component, WeightManifest manifest, WeightAliases? aliases = null) =>
        WeightSet.FromTensors(
            component,
            manifest.Entries.Select(e => new KeyValuePair<string, Tensor>(
                e.Key, Tensor.View(new NoBytes(e.Shape.ElementCount * e.DType.SizeOf()), 0, e.DType, e.Shape))),
            aliases);

    private sealed class NoBytes(long length) : TensorStorage
    {
        public override long ByteLength => length;

        public override MemoryKind Kind => MemoryKind.Device;
    }
}

/// <summary>An <see cref="IOps"/> that only accepts weights (returned as they are); building a model runs nothing else.</summary>
public sealed class BindingOnlyOps : IOps
{
    public string Name => "binding-only";

    public DType ActivationDType => DType.F16;

    public IBackendMemory Memory => throw Refused();

    public void CountNonFinite(Tensor x, Tensor counter) => throw Refused();

    public void CopyInto(Tensor source, Tensor destination) => throw Refused();

    public Tensor FromHost(Tensor host, DType? dtype = null) => host;

    public Tensor Empty(DType dtype, TensorShape shape) => throw Refused();

    public Tensor ToHost(Tensor x) => throw Refused();

    public Tensor Copy(Tensor x) => throw Refused();

    public Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride, Padding2D padding, Tensor? perImage = null, Tensor? residual = null) => throw Refused();

    public Tensor TemporalConv(Tensor x, int frames, Tensor weight, Tensor? bias, Tensor? residual = null) => throw Refused();

    public Tensor GroupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, int frames = 1) => throw Refused();

    public Tensor GroupNormSilu(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, int frames = 1) => throw Refused();

    public Tensor LayerNorm(Tensor x, Tensor gamma, Tensor beta, float eps) => throw Refused();

    public Tensor Linear(Tensor x, Tensor weight, Tensor? bias, Tensor? residual = null) => throw Refused();

    public Tensor Attention(Tensor q, Tensor k, Tensor v, int heads) => throw Refused();

    public Tensor Silu(Tensor x) => throw Refused();

    public Tensor Gelu(Tensor x) => throw Refused();

    public Tensor QuickGelu(Tensor x) => throw Refused();

    public Tensor Geglu(Tensor x) => throw Refused();

    public Tensor Add(Tensor a, Tensor b) => throw Refused();

    public Tensor AddBroadcastRows(Tensor x, Tensor rows) => throw Refused();

    public Tensor Concat(IReadOnlyList<Tensor> parts, int axis) => throw Refused();

    public Tensor UpsampleNearest(Tensor x, int outHeight, int outWidth) => throw Refused();

    public Tensor AdaptiveAvgPool2d(Tensor x, int outHeight, int outWidth) => throw Refused();

    public Tensor TimestepFeatures(ReadOnlySpan<float> timesteps, int features, bool flipSinToCos, float downscaleFreqShift, float maxPeriod = 10000) => throw Refused();

    public Tensor FramesToSequences(Tensor x, int frames) => throw Refused();

    public Tensor SequencesToFrames(Tensor x, int height, int width) => throw Refused();

    public Tensor NchwToNhwc(Tensor x) => throw Refused();

    public Tensor NhwcToNchw(Tensor x) => throw Refused();

    public Tensor NcfhwToNhwc(Tensor x) => throw Refused();

    public Tensor NhwcToNcfhw(Tensor x, int frames) => throw Refused();

    private static NotSupportedException Refused() => new("BindingOnlyOps binds weights and computes nothing.");

    public void DdimStep(Tensor modelOutput, Tensor latents, DdimStepSettings settings, Tensor? noise = null, Tensor? nextInput = null) => throw Refused();

    public long CountNonFinite(Tensor x) => throw Refused();

    public void SamplerPredict(Tensor modelOutput, Tensor latents, Tensor prediction, SamplerPrediction settings) => throw Refused();

    public void SamplerCombine(Tensor latents, IReadOnlyList<Tensor> history, SamplerCombination combination, Tensor? lastSample = null, Tensor? nextInput = null) => throw Refused();
}
