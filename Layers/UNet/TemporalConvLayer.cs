using CudaI2V.Layers.Modules;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.UNet;

/// <summary>
/// diffusers' <c>TemporalConvLayer</c>: four stages of GroupNorm (statistics over all frames of a video, eps
/// 1e-5) -> SiLU -> Conv3d with kernel (3, 1, 1) across frames (zero frames beyond each end), then
/// out = x + stage4. Keys: <c>conv1.0</c> (GN) and <c>conv1.2</c> (conv); <c>convK.0</c> and <c>convK.3</c> for
/// K = 2..4 (those stages have a dropout module at index 2).
/// </summary>
public sealed class TemporalConvLayer
{
    private readonly WeightBinder _w;
    private readonly GroupNorm[] _norms = new GroupNorm[4];
    private readonly Tensor[] _weights = new Tensor[4];
    private readonly Tensor[] _biases = new Tensor[4];

    /// <summary>Binds the layer.</summary>
    public TemporalConvLayer(WeightBinder w, string prefix, int channels, int groups)
    {
        _w = w;
        for (var k = 0; k < 4; k++)
        {
            var convIndex = k == 0 ? 2 : 3;
            _norms[k] = new GroupNorm(w, $"{prefix}.conv{k + 1}.0", groups, channels, 1e-5f);
            _weights[k] = w.TakeTemporalConvWeight($"{prefix}.conv{k + 1}.{convIndex}.weight", channels, channels, 3);
            _biases[k] = w.Take($"{prefix}.conv{k + 1}.{convIndex}.bias", channels);
        }
    }

    /// <summary>x (B*F, H, W, C) to the same shape.</summary>
    public Tensor Forward(Tensor x, int frames)
    {
        var h = x;
        for (var k = 0; k < 4; k++)
        {
            var normed = _norms[k].Forward(h, frames, silu: true);
            h = _w.Ops.TemporalConv(normed, frames, _weights[k], _biases[k], residual: k == 3 ? x : null);
        }

        return h;
    }
}
