using CudaI2V.Layers.Modules;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.Vae;

/// <summary>
/// The VAE mid-block attention (diffusers' <c>Attention</c> with <c>group_norm</c> and a residual connection):
/// tokens = GN(x) (per image, eps 1e-6) as (N, H*W, C); q, k, v and to_out.0 with biases; heads =
/// C / attention_head_dim (one head of C in AutoencoderKL); out = attention + x.
/// </summary>
public sealed class VaeAttention
{
    private readonly GroupNorm _groupNorm;
    private readonly Attention _attention;

    /// <summary>Binds <c>{prefix}</c> (…mid_block.attentions.0).</summary>
    public VaeAttention(WeightBinder w, string prefix, int channels, int groups, int headDim)
    {
        _groupNorm = new GroupNorm(w, $"{prefix}.group_norm", groups, channels, 1e-6f);
        _attention = new Attention(w, prefix, channels, channels, channels / headDim, headDim, qkvBias: true);
    }

    /// <summary>(N, H, W, C) to the same shape.</summary>
    public Tensor Forward(Tensor x)
    {
        int n = x.Shape[0], height = x.Shape[1], width = x.Shape[2], c = x.Shape[3];
        var tokens = _groupNorm.Forward(x).Reshape(n, height * width, c);                  // (N, HW, C)
        return _attention.Forward(tokens, null, residual: x.Reshape(n, height * width, c)).Reshape(n, height, width, c);
    }
}

/// <summary>diffusers' <c>UNetMidBlock2D</c> as the VAE builds it: resnet -> attention -> resnet (no time embedding, eps 1e-6).</summary>
public sealed class UNetMidBlock2D
{
    private readonly ResnetBlock2D[] _resnets;
    private readonly VaeAttention? _attention;

    /// <summary>Binds <c>{prefix}</c> (encoder.mid_block or decoder.mid_block).</summary>
    public UNetMidBlock2D(WeightBinder w, string prefix, int channels, int groups, bool addAttention)
    {
        _resnets = [.. Enumerable.Range(0, 2).Select(j => new ResnetBlock2D(w, $"{prefix}.resnets.{j}", channels, channels, null, groups, 1e-6f))];
        _attention = addAttention ? new VaeAttention(w, $"{prefix}.attentions.0", channels, groups, headDim: channels) : null;
    }

    /// <summary>(N, H, W, C) to the same shape.</summary>
    public Tensor Forward(Tensor x)
    {
        x = _resnets[0].Forward(x);
        if (_attention is not null)
        {
            x = _attention.Forward(x);
        }

        return _resnets[1].Forward(x);
    }
}

/// <summary>diffusers' <c>DownEncoderBlock2D</c>: resnets (eps 1e-6), then a downsampler padded right and bottom.</summary>
public sealed class DownEncoderBlock2D
{
    private readonly ResnetBlock2D[] _resnets;
    private readonly Downsample2D? _downsampler;

    /// <summary>Binds <c>encoder.down_blocks.{i}</c>.</summary>
    public DownEncoderBlock2D(WeightBinder w, string prefix, int inChannels, int outChannels, int layers, int groups, bool addDownsample)
    {
        _resnets = [.. Enumerable.Range(0, layers).Select(j => new ResnetBlock2D(w, $"{prefix}.resnets.{j}", j == 0 ? inChannels : outChannels, outChannels, null, groups, 1e-6f))];
        _downsampler = addDownsample ? new Downsample2D(w, $"{prefix}.downsamplers.0", outChannels, Downsample2D.RightBottom) : null;
    }

    /// <summary>(N, H, W, Cin) to (N, H', W', Cout).</summary>
    public Tensor Forward(Tensor x)
    {
        foreach (var resnet in _resnets)
        {
            x = resnet.Forward(x);
        }

        return _downsampler?.Forward(x) ?? x;
    }
}

/// <summary>diffusers' <c>UpDecoderBlock2D</c>: resnets (eps 1e-6), then a nearest 2x upsampler with a 3x3 conv.</summary>
public sealed class UpDecoderBlock2D
{
    private readonly ResnetBlock2D[] _resnets;
    private readonly Upsample2D? _upsampler;

    /// <summary>Binds <c>decoder.up_blocks.{i}</c>.</summary>
    public UpDecoderBlock2D(WeightBinder w, string prefix, int inChannels, int outChannels, int layers, int groups, bool addUpsample)
    {
        _resnets = [.. Enumerable.Range(0, layers).Select(j => new ResnetBlock2D(w, $"{prefix}.resnets.{j}", j == 0 ? inChannels : outChannels, outChannels, null, groups, 1e-6f))];
        _upsampler = addUpsample ? new Upsample2D(w, $"{prefix}.upsamplers.0", outChannels) : null;
    }

    /// <summary>(N, H, W, Cin) to (N, 2H, 2W, Cout) (or H, W for the last block).</summary>
    public Tensor Forward(Tensor x)
    {
        foreach (var resnet in _resnets)
        {
            x = resnet.Forward(x);
        }

        return _upsampler?.Forward(x) ?? x;
    }
}
