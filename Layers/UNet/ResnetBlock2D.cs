using CudaI2V.Layers.Modules;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.UNet;

/// <summary>
/// diffusers' <c>ResnetBlock2D</c> as the UNet builds it (eps 1e-5, SiLU, time_embedding_norm "default",
/// output scale 1): h = conv1(SiLU(GN1(x))) + time_emb_proj(SiLU(temb)); h = conv2(SiLU(GN2(h)));
/// out = shortcut(x) + h, with a 1x1 <c>conv_shortcut</c> when the channel count changes. Statistics are per
/// frame-image. The time embedding and the shortcut are fused into the convolutions' epilogues.
/// </summary>
public sealed class ResnetBlock2D
{
    private readonly GroupNorm _norm1;
    private readonly Conv2d _conv1;
    private readonly Linear _timeEmbProj;
    private readonly GroupNorm _norm2;
    private readonly Conv2d _conv2;
    private readonly Conv2d? _convShortcut;

    /// <summary>Binds the block.</summary>
    public ResnetBlock2D(WeightBinder w, string prefix, int inChannels, int outChannels, int tembChannels, int groups, float eps = 1e-5f)
    {
        _norm1 = new GroupNorm(w, $"{prefix}.norm1", groups, inChannels, eps);
        _conv1 = new Conv2d(w, $"{prefix}.conv1", inChannels, outChannels, 3);
        _timeEmbProj = new Linear(w, $"{prefix}.time_emb_proj", tembChannels, outChannels);
        _norm2 = new GroupNorm(w, $"{prefix}.norm2", groups, outChannels, eps);
        _conv2 = new Conv2d(w, $"{prefix}.conv2", outChannels, outChannels, 3);
        _convShortcut = inChannels != outChannels ? new Conv2d(w, $"{prefix}.conv_shortcut", inChannels, outChannels, 1) : null;
    }

    /// <summary>x (N, H, W, Cin); <paramref name="tembSilu"/> = SiLU(temb) (N, T), shared by every resnet of a forward.</summary>
    public Tensor Forward(Tensor x, Tensor tembSilu)
    {
        var t = _timeEmbProj.Forward(tembSilu);                          // (N, Cout)
        var h = _conv1.Forward(_norm1.Forward(x, silu: true), perImage: t); // (N, H, W, Cout)
        var shortcut = _convShortcut?.Forward(x) ?? x;                   // (N, H, W, Cout)
        return _conv2.Forward(_norm2.Forward(h, silu: true), residual: shortcut);
    }
}
