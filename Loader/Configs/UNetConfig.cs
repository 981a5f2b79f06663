using System.Globalization;

namespace CudaI2V.Loader.Configs;

/// <summary>
/// <c>unet/config.json</c> of an <c>I2VGenXLUNet</c>. Keys the file omits take the diffusers constructor's
/// defaults, except the three that define the network's shape (block_out_channels, down_block_types,
/// up_block_types), which are required.
/// </summary>
public sealed class UNetConfig : ComponentConfig
{
    /// <summary>The diffusers class this config builds.</summary>
    public const string ExpectedClass = "I2VGenXLUNet";

    private UNetConfig(ConfigReader r)
        : base(r, r.OptionalString("_class_name"))
    {
        r.Known("_diffusers_version", "_name_or_path");
        SampleSize = r.OptionalInt("sample_size", 1, ConfigLimits.MaxSide);
        InChannels = r.Int("in_channels", 4, 1, ConfigLimits.MaxLatentChannels);
        OutChannels = r.Int("out_channels", 4, 1, ConfigLimits.MaxLatentChannels);
        BlockOutChannels = r.IntList("block_out_channels", null, 1, ConfigLimits.MaxChannels, ConfigLimits.MaxLevels);
        DownBlockTypes = r.StringList("down_block_types", null);
        UpBlockTypes = r.StringList("up_block_types", null);
        LayersPerBlock = r.Int("layers_per_block", 2, 1, ConfigLimits.MaxLayersPerBlock);
        NormNumGroups = r.Int("norm_num_groups", 32, 1, ConfigLimits.MaxChannels);
        CrossAttentionDim = r.Int("cross_attention_dim", 1024, 1, ConfigLimits.MaxChannels);
        (AttentionHeadDim, HeadDimSource) = ResolveHeadDim(r);
        if (HeadDimSource == "num_attention_heads")
        {
            Notes = [$"the head dimension ({AttentionHeadDim}) was read from 'num_attention_heads', which older diffusers versions wrote with that meaning"];
        }

        r.RequireSameLevels(BlockOutChannels, DownBlockTypes, UpBlockTypes);
        Validate(r.Path);
        Finish();
    }

    /// <summary>Nominal latent size; unused by the pipeline.</summary>
    public int? SampleSize { get; }

    /// <summary>Latent channels in (4).</summary>
    public int InChannels { get; }

    /// <summary>Channels out (4).</summary>
    public int OutChannels { get; }

    /// <summary>Channels of each level ([320, 640, 1280, 1280] in the release).</summary>
    public IReadOnlyList<int> BlockOutChannels { get; }

    /// <summary>"CrossAttnDownBlock3D" or "DownBlock3D" per level.</summary>
    public IReadOnlyList<string> DownBlockTypes { get; }

    /// <summary>"UpBlock3D" or "CrossAttnUpBlock3D" per level.</summary>
    public IReadOnlyList<string> UpBlockTypes { get; }

    /// <summary>Resnets per down block (up blocks have one more).</summary>
    public int LayersPerBlock { get; }

    /// <summary>GroupNorm groups.</summary>
    public int NormNumGroups { get; }

    /// <summary>Width of the cross-attention context tokens.</summary>
    public int CrossAttentionDim { get; }

    /// <summary>The head dimension of every attention in the blocks (heads = channels / head dim).</summary>
    public int AttentionHeadDim { get; }

    /// <summary>Where <see cref="AttentionHeadDim"/> came from: "attention_head_dim", "num_attention_heads" or "default".</summary>
    public string HeadDimSource { get; }

    /// <summary>Reads and validates <paramref name="path"/>.</summary>
    public static UNetConfig Load(string path) => new(ConfigReader.Load(path));

    private static (int, string) ResolveHeadDim(ConfigReader r)
    {
        var headDim = r.Raw("attention_head_dim");
        var heads = r.Raw("num_attention_heads");
        int? Read(string key, System.Text.Json.JsonElement? value)
        {
            if (value is not { } v)
            {
                return null;
            }

            return v.ValueKind == System.Text.Json.JsonValueKind.Number && v.TryGetInt32(out var i) && i > 0 && i <= ConfigLimits.MaxChannels
                ? i
                : throw new ModelFileException(
                    $"{r.Path}: '{key}' must be one integer from 1 to {ConfigLimits.MaxChannels} for an I2VGenXLUNet, found {v.GetRawText()}.", r.Path, key);
        }

        var fromHeadDim = Read("attention_head_dim", headDim);
        var fromHeads = Read("num_attention_heads", heads);
        if (fromHeadDim is { } a && fromHeads is { } b && a != b)
        {
            throw new ModelFileException(
                $"{r.Path}: 'attention_head_dim' is {a} but 'num_attention_heads' is {b}; for an I2VGenXLUNet both mean the head dimension and must agree.",
                r.Path, "attention_head_dim");
        }

        if (fromHeadDim is { } d)
        {
            return (d, "attention_head_dim");
        }

        return fromHeads is { } h ? (h, "num_attention_heads") : (64, "default");
    }

    private void Validate(string path)
    {
        foreach (var t in DownBlockTypes.Where(t => t is not ("CrossAttnDownBlock3D" or "DownBlock3D")))
        {
            throw new ModelFileException($"{path}: unsupported down block type '{t}' (expected CrossAttnDownBlock3D or DownBlock3D).", path, "down_block_types");
        }

        foreach (var t in UpBlockTypes.Where(t => t is not ("CrossAttnUpBlock3D" or "UpBlock3D")))
        {
            throw new ModelFileException($"{path}: unsupported up block type '{t}' (expected CrossAttnUpBlock3D or UpBlock3D).", path, "up_block_types");
        }

        foreach (var c in BlockOutChannels.Where(c => c <= 0 || c % NormNumGroups != 0))
        {
            throw new ModelFileException($"{path}: block_out_channels value {c} is not a positive multiple of norm_num_groups ({NormNumGroups}).", path, "block_out_channels");
        }
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Name, string Value)> Summary()
    {
        yield return ("block_out_channels", List(BlockOutChannels));
        yield return ("down_block_types", List(DownBlockTypes));
        yield return ("up_block_types", List(UpBlockTypes));
        yield return ("layers_per_block", LayersPerBlock.ToString(CultureInfo.InvariantCulture));
        yield return ("norm_num_groups", NormNumGroups.ToString(CultureInfo.InvariantCulture));
        yield return ("cross_attention_dim", CrossAttentionDim.ToString(CultureInfo.InvariantCulture));
        yield return ("head dim", $"{AttentionHeadDim} (from {HeadDimSource})");
        yield return ("in/out channels", $"{InChannels}/{OutChannels}");
    }
}
