using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Loader.Json;

namespace CudaI2V.Pipeline.Text;

/// <summary>A prompt as the text encoder takes it.</summary>
/// <param name="Ids">Exactly <see cref="ClipTokenizer.MaxLength"/> ids: start token, content, end token, padding.</param>
/// <param name="TokenCount">Ids before the padding (start and end tokens included).</param>
/// <param name="TruncatedText">The decoded text of the content tokens cut to fit, or null when nothing was cut.</param>
/// <param name="MaxLength">The sequence length the prompt was fitted to.</param>
public sealed record TokenizedPrompt(IReadOnlyList<int> Ids, int TokenCount, string? TruncatedText, int MaxLength)
{
    /// <summary>The warning diffusers gives for a truncated prompt, naming what was cut; null when nothing was.</summary>
    public string? Warning => TruncatedText is null
        ? null
        : $"The following part of your input was truncated because CLIP can only handle sequences up to {MaxLength} tokens: {TruncatedText}";
}

/// <summary>
/// The CLIP tokenizer of a <c>tokenizer/</c> folder (<c>vocab.json</c>, <c>merges.txt</c> and the special tokens of
/// <c>tokenizer_config.json</c> / <c>special_tokens_map.json</c>), giving the ids transformers' CLIPTokenizer gives:
/// special tokens matched verbatim in the raw text; the rest cleaned up and split by
/// <see cref="ClipTextNormalizer"/>; each piece as UTF-8 bytes mapped to printable characters (GPT-2's byte-level
/// alphabet) and merged by byte-pair encoding, lowest merge rank first, with <c>&lt;/w&gt;</c> marking the end of
/// the piece; then the start token, at most <see cref="MaxLength"/> - 2 content tokens, the end token, and the pad
/// token up to <see cref="MaxLength"/>. Thread-safe.
/// </summary>
public sealed class ClipTokenizer
{
    private const string EndOfWord = "</w>";
    private const int MaxCachedWords = 100_000;

    private static readonly char[] ByteToChar = BuildByteAlphabet();
    private static readonly Dictionary<char, byte> CharToByte = ByteToChar.Select((c, b) => (c, b)).ToDictionary(p => p.c, p => (byte)p.b);

    private readonly Dictionary<string, int> _vocab;
    private readonly string _vocabPath;
    private readonly string?[] _tokens;
    private readonly Dictionary<(string, string), int> _ranks;
    private readonly string[] _specialTokens;
    private readonly ConcurrentDictionary<string, int[]> _words = new(StringComparer.Ordinal);

    private ClipTokenizer(Dictionary<string, int> vocab, Dictionary<(string, string), int> ranks, TokenizerConfig config, string folder)
    {
        _vocab = vocab;
        _vocabPath = config.VocabPath;
        _ranks = ranks;
        _tokens = new string?[vocab.Values.Max() + 1];
        foreach (var (token, id) in vocab)
        {
            _tokens[id] = token;
        }

        MaxLength = config.ModelMaxLength;
        LowerCase = config.DoLowerCase;
        BosId = SpecialId(config.BosToken, "bos_token", folder);
        EosId = SpecialId(config.EosToken, "eos_token", folder);
        PadId = SpecialId(config.PadToken, "pad_token", folder);
        UnkId = SpecialId(config.UnkToken, "unk_token", folder);
        _specialTokens = new[] { config.BosToken, config.EosToken, config.PadToken, config.UnkToken }
            .Distinct(StringComparer.Ordinal).OrderByDescending(t => t.Length).ToArray();
    }

    /// <summary>Sequence length of every encoded prompt (77 for CLIP).</summary>
    public int MaxLength { get; }

    /// <summary>Whether the text is lower-cased.</summary>
    public bool LowerCase { get; }

    /// <summary>Start-of-text id.</summary>
    public int BosId { get; }

    /// <summary>End-of-text id.</summary>
    public int EosId { get; }

    /// <summary>Padding id.</summary>
    public int PadId { get; }

    /// <summary>Id of pieces missing from the vocabulary.</summary>
    public int UnkId { get; }

    /// <summary>Number of vocabulary entries.</summary>
    public int VocabularySize => _vocab.Count;

    /// <summary>
    /// Throws a <see cref="ModelFileException"/> when an id of vocab.json has no row in the text encoder's token
    /// embedding (<paramref name="textEncoder"/>'s vocab_size), which would fail only when a prompt used it.
    /// </summary>
    public void CheckFits(ClipTextConfig textEncoder)
    {
        ArgumentNullException.ThrowIfNull(textEncoder);
        var (token, id) = _vocab.MaxBy(p => p.Value);
        if (id >= textEncoder.VocabSize)
        {
            throw new ModelFileException(
                $"{_vocabPath}: token '{token}' has id {id}, but {textEncoder.Path} has 'vocab_size' {textEncoder.VocabSize}; the tokenizer and the text encoder come from different models.",
                _vocabPath, token);
        }
    }

    /// <summary>Reads the tokenizer of a model folder (a pipeline or a tokenizer folder).</summary>
    public static ClipTokenizer Load(ModelDirectory model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Load(model.Tokenizer);
    }

    /// <summary>Reads vocab.json and merges.txt; a malformed file is a <see cref="ModelFileException"/> naming it.</summary>
    public static ClipTokenizer Load(TokenizerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var folder = Path.GetDirectoryName(config.VocabPath) ?? ".";
        if (config.ModelMaxLength < 2)
        {
            throw new ModelFileException($"{folder}: model_max_length {config.ModelMaxLength} leaves no room for the start and end tokens.", folder);
        }

        var vocab = ReadVocab(config.VocabPath);
        var ranks = ReadMerges(config.MergesPath, vocab);
        return new ClipTokenizer(vocab, ranks, config, folder);
    }

    /// <summary>The ids of <paramref name="prompt"/>, fitted to <see cref="MaxLength"/>.</summary>
    public TokenizedPrompt Encode(string prompt)
    {
        var content = EncodeContent(prompt);
        var room = MaxLength - 2;
        string? truncated = null;
        if (content.Count > room)
        {
            truncated = Decode(content.Skip(room));
            content = content.Take(room).ToList();
        }

        var ids = new int[MaxLength];
        ids[0] = BosId;
        for (var i = 0; i < content.Count; i++)
        {
            ids[i + 1] = content[i];
        }

        ids[content.Count + 1] = EosId;
        Array.Fill(ids, PadId, content.Count + 2, MaxLength - content.Count - 2);
        return new TokenizedPrompt(ids, content.Count + 2, truncated, MaxLength);
    }

    /// <summary>The content ids of <paramref name="text"/>: no start or end token, no truncation, no padding.</summary>
    public List<int> EncodeContent(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        var start = 0;
        for (var i = 0; i < text.Length;)
        {
            var special = _specialTokens.FirstOrDefault(t => text.AsSpan(i).StartsWith(t, StringComparison.Ordinal));
            if (special is null)
            {
                i++;
                continue;
            }

            EncodeOrdinary(text[start..i], ids);
            ids.Add(_vocab[special]);
            i += special.Length;
            start = i;
        }

        EncodeOrdinary(text[start..], ids);
        return ids;
    }

    /// <summary>
    /// The text of <paramref name="ids"/> as CLIP decodes it: token strings joined, byte-level characters back to
    /// UTF-8 (invalid sequences become U+FFFD), each <c>&lt;/w&gt;</c> a space, trimmed.
    /// </summary>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            var token = id >= 0 && id < _tokens.Length ? _tokens[id] : null;
            foreach (var c in token ?? throw new ArgumentOutOfRangeException(nameof(ids), $"Token id {id} is not in the vocabulary."))
            {
                // "</w>" is plain ASCII, which the byte-level alphabet maps to itself.
                bytes.Add(CharToByte.TryGetValue(c, out var b) ? b : (byte)'?');
            }
        }

        return Encoding.UTF8.GetString(bytes.ToArray()).Replace(EndOfWord, " ", StringComparison.Ordinal).Trim();
    }

    /// <summary>The token string of <paramref name="id"/> (byte-level characters).</summary>
    public string TokenOf(int id) =>
        id >= 0 && id < _tokens.Length && _tokens[id] is { } token
            ? token
            : throw new ArgumentOutOfRangeException(nameof(id), $"Token id {id} is not in the vocabulary.");

    private void EncodeOrdinary(string segment, List<int> ids)
    {
        if (segment.Length == 0)
        {
            return;
        }

        foreach (var piece in ClipTextNormalizer.PreTokenize(ClipTextNormalizer.Normalize(segment, LowerCase)))
        {
            var utf8 = Encoding.UTF8.GetBytes(piece);
            var word = new string(utf8.Select(b => ByteToChar[b]).ToArray());
            if (!_words.TryGetValue(word, out var wordIds))
            {
                wordIds = Bpe(word);
                if (_words.Count < MaxCachedWords)
                {
                    _words.TryAdd(word, wordIds);
                }
            }

            ids.AddRange(wordIds);
        }
    }

    // Byte-pair encoding of one piece: start from its characters (the last one carrying "</w>"), then merge the
    // adjacent pair of lowest rank, every occurrence left to right, until no pair has a rank.
    private int[] Bpe(string word)
    {
        var symbols = new List<string>(word.Length);
        for (var i = 0; i < word.Length; i++)
        {
            symbols.Add(i == word.Length - 1 ? word[i] + EndOfWord : word[i].ToString());
        }

        while (symbols.Count > 1)
        {
            var best = -1;
            var bestRank = int.MaxValue;
            for (var i = 0; i + 1 < symbols.Count; i++)
            {
                if (_ranks.TryGetValue((symbols[i], symbols[i + 1]), out var rank) && rank < bestRank)
                {
                    (best, bestRank) = (i, rank);
                }
            }

            if (best < 0)
            {
                break;
            }

            var (first, second) = (symbols[best], symbols[best + 1]);
            var merged = new List<string>(symbols.Count);
            for (var i = 0; i < symbols.Count; i++)
            {
                if (i + 1 < symbols.Count && symbols[i] == first && symbols[i + 1] == second)
                {
                    merged.Add(first + second);
                    i++;
                }
                else
                {
                    merged.Add(symbols[i]);
                }
            }

            symbols = merged;
        }

        return symbols.Select(s => _vocab.TryGetValue(s, out var id) ? id : UnkId).ToArray();
    }

    private int SpecialId(string token, string key, string folder) =>
        _vocab.TryGetValue(token, out var id)
            ? id
            : throw new ModelFileException($"The tokenizer's {key} '{token}' is not in {Path.Combine(folder, "vocab.json")}.", folder, key);

    /// <summary>The largest vocab.json or merges.txt read (CLIP's are under 2 MB).</summary>
    private const long MaxFileBytes = 64L * 1024 * 1024;

    private static Dictionary<string, int> ReadVocab(string path)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        InputFile.RequireModelFile(path, "tokenizer vocabulary");
        using (var document = StrictJson.ParseFile(path, MaxFileBytes))
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ModelFileException($"{path} must hold a JSON object of token -> id.", path);
            }

            var seen = new HashSet<int>();
            foreach (var entry in document.RootElement.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out var id) || id < 0 || id >= ConfigLimits.MaxVocabulary)
                {
                    throw new ModelFileException(
                        $"{path}: token '{entry.Name}' has id {entry.Value.GetRawText()}; ids are integers from 0 to {ConfigLimits.MaxVocabulary - 1}.", path, entry.Name);
                }

                if (!seen.Add(id) || !vocab.TryAdd(entry.Name, id))
                {
                    throw new ModelFileException($"{path}: id {id} or token '{entry.Name}' appears twice.", path, entry.Name);
                }
            }
        }

        return vocab.Count > 0 ? vocab : throw new ModelFileException($"{path} holds no tokens.", path);
    }

    private static Dictionary<(string, string), int> ReadMerges(string path, Dictionary<string, int> vocab)
    {
        var ranks = new Dictionary<(string, string), int>();
        InputFile.RequireModelFile(path, "tokenizer merges");
        if (new FileInfo(path).Length > MaxFileBytes)
        {
            throw new ModelFileException($"{path} is larger than {MaxFileBytes} bytes; a CLIP merges.txt is under 1 MB.", path);
        }

        var lineNumber = 0;
        foreach (var line in File.ReadLines(path, Encoding.UTF8))
        {
            lineNumber++;
            if ((lineNumber == 1 && line.StartsWith("#version", StringComparison.Ordinal)) || line.Length == 0)
            {
                continue;
            }

            var parts = line.Split(' ');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
            {
                throw new ModelFileException($"{path}, line {lineNumber}: a merge is two tokens separated by one space, found '{line}'.", path);
            }

            foreach (var token in new[] { parts[0], parts[1], parts[0] + parts[1] })
            {
                if (!vocab.ContainsKey(token))
                {
                    throw new ModelFileException($"{path}, line {lineNumber}: '{token}' of merge '{line}' is not in vocab.json.", path);
                }
            }

            ranks.TryAdd((parts[0], parts[1]), ranks.Count);
        }

        return ranks;
    }

    // GPT-2's byte-level alphabet: printable Latin-1 bytes stand for themselves, the other 68 bytes for U+0100 on.
    private static char[] BuildByteAlphabet()
    {
        var map = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }

        return map;
    }
}
