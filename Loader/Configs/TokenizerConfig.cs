using System.Globalization;
using System.Text.Json;

namespace CudaI2V.Loader.Configs;

/// <summary>
/// The <c>tokenizer/</c> folder of a CLIPTokenizer: the required <c>vocab.json</c> and <c>merges.txt</c>, and the
/// optional <c>tokenizer_config.json</c> and <c>special_tokens_map.json</c> (which wins where both name a token).
/// Special tokens may be written as strings or as {"content": ...} objects.
/// </summary>
public sealed class TokenizerConfig : ComponentConfig
{
    private TokenizerConfig(ConfigReader r, string folder, ConfigReader? specialTokens)
        : base(r, r.OptionalString("tokenizer_class"))
    {
        r.Known("added_tokens_decoder", "clean_up_tokenization_spaces", "name_or_path", "special_tokens_map_file", "add_prefix_space");
        VocabPath = System.IO.Path.Combine(folder, "vocab.json");
        MergesPath = System.IO.Path.Combine(folder, "merges.txt");
        foreach (var required in new[] { VocabPath, MergesPath })
        {
            if (!File.Exists(required))
            {
                throw new ModelFileException($"The tokenizer folder {folder} has no {System.IO.Path.GetFileName(required)}.", required);
            }
        }

        var tokenizerJson = System.IO.Path.Combine(folder, "tokenizer.json");
        TokenizerJsonPath = File.Exists(tokenizerJson) ? tokenizerJson : null;
        var maxLength = r.OptionalDouble("model_max_length");
        ModelMaxLength = maxLength is { } m && m >= 1 && m <= 4096 ? (int)m : 77;
        DoLowerCase = r.Bool("do_lower_case", true);
        Errors = r.String("errors", "replace");
        BosToken = Token(specialTokens, r, "bos_token", "<|startoftext|>");
        EosToken = Token(specialTokens, r, "eos_token", "<|endoftext|>");
        UnkToken = Token(specialTokens, r, "unk_token", "<|endoftext|>");
        PadToken = Token(specialTokens, r, "pad_token", "<|endoftext|>");
        if (maxLength is { } big && (big < 1 || big > 4096))
        {
            Notes = [$"model_max_length {big.ToString("R", CultureInfo.InvariantCulture)} is not a usable length; CLIP's 77 is used"];
        }

        Finish();
    }

    /// <summary>Path of vocab.json.</summary>
    public string VocabPath { get; }

    /// <summary>Path of merges.txt.</summary>
    public string MergesPath { get; }

    /// <summary>Path of tokenizer.json, when the folder has one.</summary>
    public string? TokenizerJsonPath { get; }

    /// <summary>Sequence length (77).</summary>
    public int ModelMaxLength { get; }

    /// <summary>Lower-case the text.</summary>
    public bool DoLowerCase { get; }

    /// <summary>Byte-decoding error mode.</summary>
    public string Errors { get; }

    /// <summary>Start-of-text token.</summary>
    public string BosToken { get; }

    /// <summary>End-of-text token.</summary>
    public string EosToken { get; }

    /// <summary>Unknown-word token.</summary>
    public string UnkToken { get; }

    /// <summary>Padding token.</summary>
    public string PadToken { get; }

    /// <summary>Reads the tokenizer folder <paramref name="folder"/>.</summary>
    public static TokenizerConfig Load(string folder)
    {
        var configPath = System.IO.Path.Combine(folder, "tokenizer_config.json");
        var reader = File.Exists(configPath) ? ConfigReader.Load(configPath) : ConfigReader.Empty(configPath);
        var mapPath = System.IO.Path.Combine(folder, "special_tokens_map.json");
        var map = File.Exists(mapPath) ? ConfigReader.Load(mapPath) : null;
        return new TokenizerConfig(reader, folder, map);
    }

    private static string Token(ConfigReader? map, ConfigReader config, string key, string fallback)
    {
        var fromConfig = TokenText(config, key);
        return (map is null ? null : TokenText(map, key)) ?? fromConfig ?? fallback;
    }

    private static string? TokenText(ConfigReader reader, string key)
    {
        if (reader.Raw(key) is not { } v)
        {
            return null;
        }

        if (v.ValueKind == JsonValueKind.String)
        {
            return v.GetString();
        }

        if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String)
        {
            return c.GetString();
        }

        throw new ModelFileException($"{reader.Path}: '{key}' must be a string or {{\"content\": ...}}, found {v.GetRawText()}.", reader.Path, key);
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Name, string Value)> Summary()
    {
        yield return ("model_max_length", ModelMaxLength.ToString(CultureInfo.InvariantCulture));
        yield return ("bos/eos/pad", $"{BosToken} {EosToken} {PadToken}");
        yield return ("do_lower_case", DoLowerCase ? "true" : "false");
    }
}
