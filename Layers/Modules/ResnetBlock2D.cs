using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.Modules;

/// <summary>
/// diffusers' <c>ResnetBlock2D</c> (time_embedding_norm "default", SiLU, output scale 1):
/// h = conv1(SiLU(GN1(x))) [+ time_emb_proj(SiLU(temb))]; h = conv2(SiLU(GN2(h))); out = shortcut(x) + h,
/// with a 1x1 <c>conv_shortcut</c> when the channel count changes. Statistics are per image. The UNet's blocks
/// have a time embedding (eps 1e-5); the VAE's have none (eps 1e-6). The time embedding and the shortcut are
/// fused into the convolutions' epilogues. The images run in chunks of the binder's
/// <see cref="LayerChunking.SpatialImages"/> (the same values: every image is its own).
/// </summary>
public sealed class ResnetBlock2D
{
    private readonly GroupNorm _norm1;
    private readonly Conv2d _conv1;
    private readonly Linear? _timeEmbProj;
    private readonly GroupNorm _norm2;
    private readonly Conv2d _conv2;
    private readonly Conv2d? _convShortcut;
    private readonly WeightBinder _w;

    /// <summary>Binds the block; <paramref name="tembChannels"/> null means no time embedding (the VAE).</summary>
    public ResnetBlock2D(WeightBinder w, string prefix, int inChannels, int outChannels, int? tembChannels, int groups, float eps)
    {
        ArgumentNullException.ThrowIfNull(w);
        _w = w;
        _norm1 = new GroupNorm(w, $"{prefix}.norm1", groups, inChannels, eps);
        _conv1 = new Conv2d(w, $"{prefix}.conv1", inChannels, outChannels, 3);
        _timeEmbProj = tembChannels is { } t ? new Linear(w, $"{prefix}.time_emb_proj", t, outChannels) : null;
        _norm2 = new GroupNorm(w, $"{prefix}.norm2", groups, outChannels, eps);
        _conv2 = new Conv2d(w, $"{prefix}.conv2", outChannels, outChannels, 3);
        _convShortcut = inChannels != outChannels ? new Conv2d(w, $"{prefix}.conv_shortcut", inChannels, outChannels, 1) : null;
    }

    /// <summary>
    /// x (N, H, W, Cin) to (N, H, W, Cout). <paramref name="tembSilu"/> = SiLU(temb) (N, T), shared by every
    /// resnet of a UNet forward; null for a block without time embedding.
    /// </summary>
    public Tensor Forward(Tensor x, Tensor? tembSilu = null)
    {
        if ((tembSilu is null) != (_timeEmbProj is null))
        {
            throw new ArgumentException(_timeEmbProj is null ? "This resnet has no time embedding." : "This resnet needs a time embedding.", nameof(tembSilu));
        }

        ArgumentNullException.ThrowIfNull(x);
        return LayerChunking.ByRows(_w.Ops, x.Shape[0], _w.Chunking.SpatialImages, (start, count) =>
            count == x.Shape[0] ? Apply(x, tembSilu) : Apply(x.Slice(0, start, count), tembSilu?.Slice(0, start, count)));
    }

    private Tensor Apply(Tensor x, Tensor? tembSilu)
    {
        var t = tembSilu is null ? null : _timeEmbProj!.Forward(tembSilu);        // (N, Cout)
        var h = _conv1.Forward(_norm1.Forward(x, silu: true), perImage: t);       // (N, H, W, Cout)
        var shortcut = _convShortcut?.Forward(x) ?? x;                            // (N, H, W, Cout)
        return _conv2.Forward(_norm2.Forward(h, silu: true), residual: shortcut);
    }
}
