using CudaI2V.Kernels;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.Modules;

/// <summary>PyTorch's Conv2d on channels-last images; keys <c>{prefix}.weight</c> [Cout, Cin, k, k] and <c>{prefix}.bias</c> [Cout].</summary>
public sealed class Conv2d
{
    private readonly WeightBinder _w;
    private readonly int _stride;
    private readonly Padding2D _padding;

    /// <summary>Binds the layer.</summary>
    /// <param name="w">Weights.</param>
    /// <param name="prefix">Key prefix.</param>
    /// <param name="inChannels">Cin.</param>
    /// <param name="outChannels">Cout.</param>
    /// <param name="kernel">Square kernel size.</param>
    /// <param name="stride">Stride along both axes.</param>
    /// <param name="padding">Zero padding; null means kernel / 2 on every side ("same" for odd kernels at stride 1).</param>
    /// <param name="bias">Whether the layer has a bias.</param>
    public Conv2d(WeightBinder w, string prefix, int inChannels, int outChannels, int kernel, int stride = 1, Padding2D? padding = null, bool bias = true)
    {
        _w = w;
        _stride = stride;
        _padding = padding ?? Padding2D.All(kernel / 2);
        InChannels = inChannels;
        OutChannels = outChannels;
        Weight = w.TakeConvWeight($"{prefix}.weight", outChannels, inChannels, kernel, kernel);
        Bias = bias ? w.Take($"{prefix}.bias", outChannels) : null;
    }

    /// <summary>Input channels.</summary>
    public int InChannels { get; }

    /// <summary>Output channels.</summary>
    public int OutChannels { get; }

    /// <summary>[Cout, Cin, k, k], in the backend's layout (<see cref="IOps.UploadConvWeight"/>).</summary>
    public Tensor Weight { get; }

    /// <summary>[Cout], when present.</summary>
    public Tensor? Bias { get; }

    /// <summary>
    /// (N, H, W, Cin) to (N, Ho, Wo, Cout), with the optional fused epilogue of <see cref="IOps.Conv2d"/>:
    /// a per-image row (N, Cout) and a residual (N, Ho, Wo, Cout).
    /// </summary>
    public Tensor Forward(Tensor x, Tensor? perImage = null, Tensor? residual = null) =>
        _w.Ops.Conv2d(x, Weight, Bias, _stride, _padding, perImage, residual);
}
