using CudaI2V.Kernels;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.Modules;

/// <summary>
/// diffusers' <c>Downsample2D</c> with a convolution (key <c>{prefix}.conv</c>): 3x3, stride 2. The UNet pads 1
/// on every side; the VAE encoder pads only the right and bottom edges by 1 (its padding=0 variant).
/// </summary>
public sealed class Downsample2D(WeightBinder w, string prefix, int channels, Padding2D padding)
{
    private readonly Conv2d _conv = new(w, $"{prefix}.conv", channels, channels, 3, stride: 2, padding);

    /// <summary>The UNet's padding: 1 on every side.</summary>
    public static Padding2D Symmetric { get; } = Padding2D.All(1);

    /// <summary>The VAE encoder's padding: right and bottom by 1.</summary>
    public static Padding2D RightBottom { get; } = new(Top: 0, Bottom: 1, Left: 0, Right: 1);

    /// <summary>(N, H, W, C) to (N, Ho, Wo, C), e.g. Ho = floor((H - 1) / 2) + 1 with symmetric padding.</summary>
    public Tensor Forward(Tensor x) => _conv.Forward(x);
}

/// <summary>
/// diffusers' <c>Upsample2D</c> with a convolution: nearest-neighbour resize (2x, or to an explicit size when
/// the UNet's input is not a multiple of its overall factor), then 3x3 conv (key <c>{prefix}.conv</c>).
/// </summary>
public sealed class Upsample2D(WeightBinder w, string prefix, int channels)
{
    private readonly WeightBinder _w = w;
    private readonly Conv2d _conv = new(w, $"{prefix}.conv", channels, channels, 3);

    /// <summary>(N, H, W, C) to (N, outHeight, outWidth, C); null sizes mean 2x.</summary>
    public Tensor Forward(Tensor x, (int Height, int Width)? size = null)
    {
        var (height, width) = size ?? (x.Shape[1] * 2, x.Shape[2] * 2);
        return _conv.Forward(_w.Ops.UpsampleNearest(x, height, width));
    }
}
