using System.Globalization;

namespace CudaI2V.Loader.Configs;

/// <summary>
/// <c>vae/config.json</c> of an <c>AutoencoderKL</c>. Omitted keys take diffusers' defaults, except the block
/// lists, which are required.
/// </summary>
public sealed class VaeConfig : ComponentConfig
{
    /// <summary>The diffusers class this config builds.</summary>
    public const string ExpectedClass = "AutoencoderKL";

    private VaeConfig(ConfigReader r)
        : base(r, r.OptionalString("_class_name"))
    {
        r.Known("_diffusers_version", "_name_or_path");
        // The pipeline reads and writes RGB images.
        InChannels = r.Int("in_channels", 3, 3, 3);
        OutChannels = r.Int("out_channels", 3, 3, 3);
        BlockOutChannels = r.IntList("block_out_channels", null, 1, ConfigLimits.MaxChannels, ConfigLimits.MaxLevels);
        DownBlockTypes = r.StringList("down_block_types", null);
        UpBlockTypes = r.StringList("up_block_types", null);
        LayersPerBlock = r.Int("layers_per_block", 1, 1, ConfigLimits.MaxLayersPerBlock);
        ActFn = r.String("act_fn", "silu");
        LatentChannels = r.Int("latent_channels", 4, 1, ConfigLimits.MaxLatentChannels);
        NormNumGroups = r.Int("norm_num_groups", 32, 1, ConfigLimits.MaxChannels);
        SampleSize = r.Int("sample_size", 32, 1, ConfigLimits.MaxSide);

        // Latents are multiplied by the factor after encoding and divided by it before decoding: 0 would decode a
        // black video, a huge or tiny one non-finite values.
        ScalingFactor = r.Double("scaling_factor", 0.18215, 1e-6, 1e6, minExclusive: true);
        ShiftFactor = r.Has("shift_factor") ? r.Double("shift_factor", 0, -1e6, 1e6) : null;
        r.Known("shift_factor");
        LatentsMean = r.Has("latents_mean") ? r.DoubleList("latents_mean", null) : null;
        LatentsStd = r.Has("latents_std") ? r.DoubleList("latents_std", null) : null;
        r.Check(LatentsMean is null || LatentsMean.Count == LatentChannels, "latents_mean", $"null or latent_channels ({LatentChannels}) numbers", (LatentsMean?.Count ?? 0) + " values");
        r.Check(LatentsStd is null || (LatentsStd.Count == LatentChannels && LatentsStd.All(s => s > 0)), "latents_std",
            $"null or latent_channels ({LatentChannels}) positive numbers", LatentsStd is null ? "null" : "[" + string.Join(", ", LatentsStd.Select(ConfigReader.Format)) + "]");
        r.Known("latents_mean", "latents_std");
        ForceUpcast = r.Bool("force_upcast", true);
        UseQuantConv = r.Bool("use_quant_conv", true);
        UsePostQuantConv = r.Bool("use_post_quant_conv", true);
        MidBlockAddAttention = r.Bool("mid_block_add_attention", true);

        r.RequireSameLevels(BlockOutChannels, DownBlockTypes, UpBlockTypes);
        foreach (var c in BlockOutChannels.Where(c => c % NormNumGroups != 0))
        {
            throw new ModelFileException($"{r.Path}: block_out_channels value {c} is not a multiple of norm_num_groups ({NormNumGroups}).", r.Path, "block_out_channels");
        }

        foreach (var t in DownBlockTypes.Where(t => t != "DownEncoderBlock2D"))
        {
            throw new ModelFileException($"{r.Path}: unsupported down block type '{t}' (expected DownEncoderBlock2D).", r.Path, "down_block_types");
        }

        foreach (var t in UpBlockTypes.Where(t => t != "UpDecoderBlock2D"))
        {
            throw new ModelFileException($"{r.Path}: unsupported up block type '{t}' (expected UpDecoderBlock2D).", r.Path, "up_block_types");
        }

        if (ActFn != "silu")
        {
            throw new ModelFileException($"{r.Path}: act_fn \"{ActFn}\" is not supported (CudaI2V's VAE uses \"silu\").", r.Path, "act_fn");
        }

        Finish();
    }

    /// <summary>Image channels in.</summary>
    public int InChannels { get; }

    /// <summary>Image channels out.</summary>
    public int OutChannels { get; }

    /// <summary>Channels of each level.</summary>
    public IReadOnlyList<int> BlockOutChannels { get; }

    /// <summary>Encoder block types.</summary>
    public IReadOnlyList<string> DownBlockTypes { get; }

    /// <summary>Decoder block types.</summary>
    public IReadOnlyList<string> UpBlockTypes { get; }

    /// <summary>Resnets per encoder block (decoder blocks have one more).</summary>
    public int LayersPerBlock { get; }

    /// <summary>Activation ("silu").</summary>
    public string ActFn { get; }

    /// <summary>Latent channels.</summary>
    public int LatentChannels { get; }

    /// <summary>GroupNorm groups.</summary>
    public int NormNumGroups { get; }

    /// <summary>Nominal image size.</summary>
    public int SampleSize { get; }

    /// <summary>Latents are multiplied by this after encoding (0.18125 in the I2VGen-XL release).</summary>
    public double ScalingFactor { get; }

    /// <summary>Optional latent shift.</summary>
    public double? ShiftFactor { get; }

    /// <summary>Optional per-channel latent means.</summary>
    public IReadOnlyList<double>? LatentsMean { get; }

    /// <summary>Optional per-channel latent standard deviations.</summary>
    public IReadOnlyList<double>? LatentsStd { get; }

    /// <summary>The VAE should run in fp32 even when the rest runs in fp16.</summary>
    public bool ForceUpcast { get; }

    /// <summary>The 1x1 quant_conv after the encoder exists.</summary>
    public bool UseQuantConv { get; }

    /// <summary>The 1x1 post_quant_conv before the decoder exists.</summary>
    public bool UsePostQuantConv { get; }

    /// <summary>The mid blocks have attention.</summary>
    public bool MidBlockAddAttention { get; }

    /// <summary>Image size / latent size: 2^(levels - 1).</summary>
    public int ScaleFactor => 1 << (BlockOutChannels.Count - 1);

    /// <summary>Reads and validates <paramref name="path"/>.</summary>
    public static VaeConfig Load(string path) => new(ConfigReader.Load(path));

    /// <inheritdoc/>
    public override IEnumerable<(string Name, string Value)> Summary()
    {
        yield return ("block_out_channels", List(BlockOutChannels));
        yield return ("layers_per_block", LayersPerBlock.ToString(CultureInfo.InvariantCulture));
        yield return ("latent_channels", LatentChannels.ToString(CultureInfo.InvariantCulture));
        yield return ("norm_num_groups", NormNumGroups.ToString(CultureInfo.InvariantCulture));
        yield return ("scaling_factor", ScalingFactor.ToString("R", CultureInfo.InvariantCulture));
        yield return ("scale factor", ScaleFactor.ToString(CultureInfo.InvariantCulture));
        yield return ("force_upcast", ForceUpcast ? "true" : "false");
    }
}
