using System.Globalization;

namespace CudaI2V.Loader.Configs;

/// <summary>The activation a CLIP config names in <c>hidden_act</c>.</summary>
public enum ClipActivation
{
    /// <summary>"gelu": exact GELU with erf (the I2VGen-XL release's encoders).</summary>
    Gelu,

    /// <summary>"quick_gelu": x * sigmoid(1.702 x) (OpenAI's original CLIP).</summary>
    QuickGelu,
}

/// <summary>Fields shared by the CLIP text and vision transformer configs (transformers' names and defaults).</summary>
public abstract class ClipConfig : ComponentConfig
{
    private static readonly Dictionary<string, ClipActivation> Activations = new()
    {
        ["gelu"] = ClipActivation.Gelu,
        ["quick_gelu"] = ClipActivation.QuickGelu,
    };

    private protected ClipConfig(ConfigReader r, int hiddenSize, int intermediateSize, int projectionDim, int layers, int heads)
        : base(r, FirstOrNull(r.StringList("architectures", [])))
    {
        r.Known("model_type", "transformers_version", "torch_dtype", "dtype", "_name_or_path", "initializer_range",
            "initializer_factor", "attention_dropout", "dropout");
        HiddenSize = r.Int("hidden_size", hiddenSize, 1, ConfigLimits.MaxChannels);
        IntermediateSize = r.Int("intermediate_size", intermediateSize, 1, ConfigLimits.MaxChannels);
        ProjectionDim = r.Int("projection_dim", projectionDim, 1, ConfigLimits.MaxChannels);
        NumHiddenLayers = r.Int("num_hidden_layers", layers, 1, ConfigLimits.MaxLayers);
        NumAttentionHeads = r.Int("num_attention_heads", heads, 1, ConfigLimits.MaxChannels);
        HiddenAct = r.Enum("hidden_act", ClipActivation.QuickGelu, Activations);
        LayerNormEps = r.Double("layer_norm_eps", 1e-5, 0, 1, minExclusive: true);
        if (NumAttentionHeads <= 0 || HiddenSize % NumAttentionHeads != 0)
        {
            throw new ModelFileException(
                $"{r.Path}: hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}.", r.Path, "num_attention_heads");
        }
    }

    private static string? FirstOrNull(IReadOnlyList<string> names) => names.Count > 0 ? names[0] : null;

    /// <summary>Token width.</summary>
    public int HiddenSize { get; }

    /// <summary>MLP width.</summary>
    public int IntermediateSize { get; }

    /// <summary>Projection width (used by the vision encoder's projection).</summary>
    public int ProjectionDim { get; }

    /// <summary>Encoder layers.</summary>
    public int NumHiddenLayers { get; }

    /// <summary>Attention heads.</summary>
    public int NumAttentionHeads { get; }

    /// <summary>Head dimension (hidden size / heads).</summary>
    public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>MLP activation.</summary>
    public ClipActivation HiddenAct { get; }

    /// <summary>LayerNorm epsilon.</summary>
    public double LayerNormEps { get; }

    /// <inheritdoc/>
    public override IEnumerable<(string Name, string Value)> Summary()
    {
        yield return ("hidden_size", HiddenSize.ToString(CultureInfo.InvariantCulture));
        yield return ("layers", NumHiddenLayers.ToString(CultureInfo.InvariantCulture));
        yield return ("heads", $"{NumAttentionHeads} x {HeadDim}");
        yield return ("intermediate_size", IntermediateSize.ToString(CultureInfo.InvariantCulture));
        yield return ("hidden_act", HiddenAct == ClipActivation.Gelu ? "gelu" : "quick_gelu");
    }
}

/// <summary><c>text_encoder/config.json</c> of a transformers <c>CLIPTextModel</c>.</summary>
public sealed class ClipTextConfig : ClipConfig
{
    private ClipTextConfig(ConfigReader r)
        : base(r, hiddenSize: 512, intermediateSize: 2048, projectionDim: 512, layers: 12, heads: 8)
    {
        VocabSize = r.Int("vocab_size", 49408, 1, ConfigLimits.MaxVocabulary);
        MaxPositionEmbeddings = r.Int("max_position_embeddings", 77, 1, ConfigLimits.MaxPositions);
        var lastId = VocabSize - 1;
        PadTokenId = r.Int("pad_token_id", Math.Min(1, lastId), 0, lastId);
        BosTokenId = r.Int("bos_token_id", Math.Min(49406, lastId), 0, lastId);
        EosTokenId = r.Int("eos_token_id", Math.Min(49407, lastId), 0, lastId);
        Finish();
    }

    /// <summary>Vocabulary size.</summary>
    public int VocabSize { get; }

    /// <summary>Sequence length (77).</summary>
    public int MaxPositionEmbeddings { get; }

    /// <summary>Pad id the config names (the tokenizer's files decide padding).</summary>
    public int PadTokenId { get; }

    /// <summary>Start-of-text id the config names.</summary>
    public int BosTokenId { get; }

    /// <summary>End-of-text id the config names.</summary>
    public int EosTokenId { get; }

    /// <summary>Reads and validates <paramref name="path"/>.</summary>
    public static ClipTextConfig Load(string path) => new(ConfigReader.Load(path));

    /// <inheritdoc/>
    public override IEnumerable<(string Name, string Value)> Summary() =>
        base.Summary().Append(("vocab_size", VocabSize.ToString(CultureInfo.InvariantCulture)))
            .Append(("max_position_embeddings", MaxPositionEmbeddings.ToString(CultureInfo.InvariantCulture)));
}

/// <summary><c>image_encoder/config.json</c> of a transformers <c>CLIPVisionModelWithProjection</c>.</summary>
public sealed class ClipVisionConfig : ClipConfig
{
    private ClipVisionConfig(ConfigReader r)
        : base(r, hiddenSize: 768, intermediateSize: 3072, projectionDim: 512, layers: 12, heads: 12)
    {
        // The pipeline hands the encoder RGB images.
        NumChannels = r.Int("num_channels", 3, 3, 3);
        ImageSize = r.Int("image_size", 224, 1, ConfigLimits.MaxPositions);
        PatchSize = r.Int("patch_size", 32, 1, ImageSize);
        if (PatchSize <= 0 || ImageSize % PatchSize != 0)
        {
            throw new ModelFileException($"{r.Path}: image_size {ImageSize} is not a multiple of patch_size {PatchSize}.", r.Path, "patch_size");
        }

        Finish();
    }

    /// <summary>Image channels (3).</summary>
    public int NumChannels { get; }

    /// <summary>Input image side in pixels.</summary>
    public int ImageSize { get; }

    /// <summary>Patch side in pixels.</summary>
    public int PatchSize { get; }

    /// <summary>Tokens: one per patch plus the class token.</summary>
    public int NumPositions => ((ImageSize / PatchSize) * (ImageSize / PatchSize)) + 1;

    /// <summary>Reads and validates <paramref name="path"/>.</summary>
    public static ClipVisionConfig Load(string path) => new(ConfigReader.Load(path));

    /// <inheritdoc/>
    public override IEnumerable<(string Name, string Value)> Summary() =>
        base.Summary().Append(("image/patch", $"{ImageSize}/{PatchSize} ({NumPositions} tokens)"))
            .Append(("projection_dim", ProjectionDim.ToString(CultureInfo.InvariantCulture)));
}
