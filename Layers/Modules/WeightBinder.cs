using CudaI2V.Kernels;
using CudaI2V.Loader;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.Modules;

/// <summary>
/// Hands layers their weights: takes each key from the component's <see cref="WeightSet"/> with the shape the
/// layer expects (a mismatch names the key and both shapes) and moves it to the backend once, converted to the
/// backend's dtype. Keys are the exact diffusers / transformers state-dict names.
/// </summary>
public sealed class WeightBinder(IOps ops, WeightSet weights)
{
    /// <summary>The backend the weights go to.</summary>
    public IOps Ops { get; } = ops;

    /// <summary>The component's weights.</summary>
    public WeightSet Weights { get; } = weights;

    /// <summary>How the bound layers chunk their work (one setting for the whole model, read at run time).</summary>
    public LayerChunking Chunking { get; } = new();

    /// <summary>Takes <paramref name="key"/>, checks it has <paramref name="shape"/>, and uploads it.</summary>
    public Tensor Take(string key, params ReadOnlySpan<int> shape) =>
        Ops.FromHost(Weights.Take(key, new TensorShape(shape)));

    /// <summary>Takes the convolution filter <paramref name="key"/> [Cout, Cin, kh, kw] and uploads it for <see cref="IOps.Conv2d"/> (<see cref="IOps.UploadConvWeight"/>).</summary>
    public Tensor TakeConvWeight(string key, int outChannels, int inChannels, int kernelHeight, int kernelWidth) =>
        Ops.UploadConvWeight(Weights.Take(key, new TensorShape(outChannels, inChannels, kernelHeight, kernelWidth)));

    /// <summary>Takes the temporal convolution filter <paramref name="key"/> [Cout, Cin, kt, 1, 1] and uploads it for <see cref="IOps.TemporalConv"/> (<see cref="IOps.UploadConvWeight"/>).</summary>
    public Tensor TakeTemporalConvWeight(string key, int outChannels, int inChannels, int kernelFrames) =>
        Ops.UploadConvWeight(Weights.Take(key, new TensorShape(outChannels, inChannels, kernelFrames, 1, 1)));

    /// <summary>True when the set holds <paramref name="key"/> (for optional weights such as a bias).</summary>
    public bool Has(string key) => Weights.Contains(key);
}
