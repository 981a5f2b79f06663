using CudaI2V.Layers.Modules;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.UNet;

/// <summary>diffusers' <c>Downsample2D</c> with a convolution: 3x3, stride 2, padding 1 (key <c>{prefix}.conv</c>).</summary>
public sealed class Downsample2D(WeightBinder w, string prefix, int channels)
{
    private readonly Conv2d _conv = new(w, $"{prefix}.conv", channels, channels, 3, stride: 2, padding: 1);

    /// <summary>(N, H, W, C) to (N, floor((H-1)/2)+1, floor((W-1)/2)+1, C).</summary>
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
