using CudaI2V.Kernels;
using CudaI2V.Layers.Modules;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.Vae;

/// <summary>Which halves of an <see cref="AutoencoderKL"/> to bind: an engine keeps the decoder through the request and may release the encoder after use.</summary>
[Flags]
public enum VaeParts
{
    /// <summary>The encoder and quant_conv.</summary>
    Encoder = 1,

    /// <summary>post_quant_conv and the decoder.</summary>
    Decoder = 2,

    /// <summary>Both.</summary>
    Both = Encoder | Decoder,
}

/// <summary>
/// diffusers' <c>AutoencoderKL</c> (the I2VGen-XL VAE), built from its config against <see cref="IOps"/>, weights
/// bound by their keys (the older attention names <c>query/key/value/proj_attn</c> are accepted through the
/// weight set's alias map). Images are channels-last (N, H, W, C) in [-1, 1]; latents (N, H/s, W/s, latent)
/// with s = 2^(levels - 1). Each image is encoded and decoded on its own (no temporal layers), so decoding a
/// video in chunks of frames gives the same result as all at once.
/// </summary>
public sealed class AutoencoderKL
{
    private readonly IOps _ops;
    private readonly VaeConfig _config;

    // Encoder.
    private readonly Conv2d? _encConvIn;
    private readonly DownEncoderBlock2D[] _downBlocks = [];
    private readonly UNetMidBlock2D? _encMid;
    private readonly GroupNorm? _encNormOut;
    private readonly Conv2d? _encConvOut;
    private readonly Conv2d? _quantConv;

    // Decoder.
    private readonly Conv2d? _postQuantConv;
    private readonly Conv2d? _decConvIn;
    private readonly UNetMidBlock2D? _decMid;
    private readonly UpDecoderBlock2D[] _upBlocks = [];
    private readonly GroupNorm? _decNormOut;
    private readonly Conv2d? _decConvOut;

    /// <summary>Builds the VAE of <paramref name="config"/> (the halves in <paramref name="parts"/>), taking its weights from <paramref name="w"/>.</summary>
    public AutoencoderKL(WeightBinder w, VaeConfig config, VaeParts parts = VaeParts.Both)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(config);
        _ops = w.Ops;
        _config = config;
        Parts = parts;
        var channels = config.BlockOutChannels;
        int levels = channels.Count, groups = config.NormNumGroups, latent = config.LatentChannels;
        if (parts.HasFlag(VaeParts.Encoder))
        {
            (_encConvIn, _downBlocks, _encMid, _encNormOut, _encConvOut, _quantConv) = BindEncoder(w, config);
        }

        if (!parts.HasFlag(VaeParts.Decoder))
        {
            return;
        }

        _postQuantConv = config.UsePostQuantConv ? new Conv2d(w, "post_quant_conv", latent, latent, 1) : null;
        _decConvIn = new Conv2d(w, "decoder.conv_in", latent, channels[^1], 3);
        _decMid = new UNetMidBlock2D(w, "decoder.mid_block", channels[^1], groups, config.MidBlockAddAttention);
        var reversed = channels.Reverse().ToArray();
        _upBlocks = new UpDecoderBlock2D[levels];
        var output = reversed[0];
        for (var i = 0; i < levels; i++)
        {
            var previous = output;
            output = reversed[i];
            _upBlocks[i] = new UpDecoderBlock2D(w, $"decoder.up_blocks.{i}", previous, output, config.LayersPerBlock + 1, groups, addUpsample: i < levels - 1);
        }

        _decNormOut = new GroupNorm(w, "decoder.conv_norm_out", groups, channels[0], 1e-6f);
        _decConvOut = new Conv2d(w, "decoder.conv_out", channels[0], config.OutChannels, 3);
    }

    /// <summary>The config.</summary>
    public VaeConfig Config => _config;

    /// <summary>The halves bound.</summary>
    public VaeParts Parts { get; }

    /// <summary>
    /// The backend this VAE's weights live on and its forwards run on (it may differ from the UNet's: an fp32 VAE beside
    /// an fp16 UNet). Its inputs come from this backend's <see cref="IOps.FromHost"/>, and its outputs go back through
    /// this backend's <see cref="IOps.ToHost"/>.
    /// </summary>
    public IOps Ops => _ops;

    /// <summary>Image size / latent size.</summary>
    public int ScaleFactor => _config.ScaleFactor;

    /// <summary>Builds the VAE and checks that every key of the file was used.</summary>
    public static AutoencoderKL Load(IOps ops, WeightSet weights, VaeConfig config)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var vae = new AutoencoderKL(new WeightBinder(ops, weights), config);
        weights.EnsureAllUsed();
        return vae;
    }

    /// <summary>
    /// Builds the halves of the VAE in <paramref name="parts"/> (their keys' shapes checked); the caller checks that every
    /// key was used once it has bound both (<see cref="WeightSet.EnsureAllUsed"/>).
    /// </summary>
    public static AutoencoderKL Load(IOps ops, WeightSet weights, VaeConfig config, VaeParts parts)
    {
        ArgumentNullException.ThrowIfNull(weights);
        return new AutoencoderKL(new WeightBinder(ops, weights), config, parts);
    }

    /// <summary>
    /// The encoder and quant_conv: images (N, H, W, in) to the latent distribution's moments (N, H/s, W/s,
    /// 2 * latent): mean in channels [0, latent), log-variance in [latent, 2 * latent). See
    /// <see cref="LatentDistribution"/>.
    /// </summary>
    public Tensor Encode(Tensor images)
    {
        ArgumentNullException.ThrowIfNull(images);
        CheckImages(images);
        if (_encConvIn is null)
        {
            throw new InvalidOperationException("This VAE was loaded without its encoder.");
        }

        var h = _encConvIn.Forward(images);                                   // (N, H, W, c0)
        foreach (var block in _downBlocks)
        {
            h = block.Forward(h);                                             // ... (N, H/s, W/s, c_last)
        }

        h = _encMid!.Forward(h);
        h = _encConvOut!.Forward(_encNormOut!.Forward(h, silu: true));          // (N, h, w, 2 latent)
        return _quantConv?.Forward(h) ?? h;
    }

    /// <summary>post_quant_conv and the decoder: latents (N, h, w, latent) (not scaled) to images (N, h*s, w*s, out).</summary>
    public Tensor Decode(Tensor latents)
    {
        ArgumentNullException.ThrowIfNull(latents);
        if (latents.Shape.Rank != 4 || latents.Shape[3] != _config.LatentChannels)
        {
            throw new ArgumentException($"VAE latents must be (N, h, w, {_config.LatentChannels}); got {latents.Shape}.", nameof(latents));
        }

        if (_decConvIn is null)
        {
            throw new InvalidOperationException("This VAE was loaded without its decoder.");
        }

        var h = _postQuantConv?.Forward(latents) ?? latents;
        h = _decConvIn.Forward(h);                                            // (N, h, w, c_last)
        h = _decMid!.Forward(h);
        foreach (var block in _upBlocks)
        {
            h = block.Forward(h);                                             // ... (N, h*s, w*s, c0)
        }

        return _decConvOut!.Forward(_decNormOut!.Forward(h, silu: true));        // (N, H, W, out)
    }

    /// <summary>
    /// Decodes <paramref name="latents"/> (N, h, w, latent) <paramref name="chunk"/> images at a time and joins
    /// the results: the same values as one call, with the memory of <paramref name="chunk"/> images.
    /// </summary>
    public Tensor Decode(Tensor latents, int chunk)
    {
        ArgumentNullException.ThrowIfNull(latents);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunk, 1);
        var n = latents.Shape[0];
        if (chunk >= n)
        {
            return Decode(latents);
        }

        var parts = new List<Tensor>();
        for (var start = 0; start < n; start += chunk)
        {
            parts.Add(Decode(latents.Slice(0, start, Math.Min(chunk, n - start))));
        }

        return _ops.Concat(parts, axis: 0);
    }

    private static (Conv2d, DownEncoderBlock2D[], UNetMidBlock2D, GroupNorm, Conv2d, Conv2d?) BindEncoder(WeightBinder w, VaeConfig config)
    {
        var channels = config.BlockOutChannels;
        int levels = channels.Count, groups = config.NormNumGroups, latent = config.LatentChannels;
        var convIn = new Conv2d(w, "encoder.conv_in", config.InChannels, channels[0], 3);
        var downBlocks = new DownEncoderBlock2D[levels];
        var output = channels[0];
        for (var i = 0; i < levels; i++)
        {
            var input = output;
            output = channels[i];
            downBlocks[i] = new DownEncoderBlock2D(w, $"encoder.down_blocks.{i}", input, output, config.LayersPerBlock, groups, addDownsample: i < levels - 1);
        }

        var mid = new UNetMidBlock2D(w, "encoder.mid_block", channels[^1], groups, config.MidBlockAddAttention);
        var normOut = new GroupNorm(w, "encoder.conv_norm_out", groups, channels[^1], 1e-6f);
        var convOut = new Conv2d(w, "encoder.conv_out", channels[^1], 2 * latent, 3);
        var quantConv = config.UseQuantConv ? new Conv2d(w, "quant_conv", 2 * latent, 2 * latent, 1) : null;
        return (convIn, downBlocks, mid, normOut, convOut, quantConv);
    }

    private void CheckImages(Tensor images)
    {
        if (images.Shape.Rank != 4 || images.Shape[3] != _config.InChannels)
        {
            throw new ArgumentException($"VAE images must be (N, H, W, {_config.InChannels}); got {images.Shape}.", nameof(images));
        }
    }
}
