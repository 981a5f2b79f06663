using System.Text.Json;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Pipeline.Text;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Pipeline;

/// <summary>The CLIP tokenizer against transformers' ids for the tiny pipeline's tokenizer, and its edge cases.</summary>
public sealed class ClipTokenizerTests
{
    private static readonly Lazy<ClipTokenizer> Tiny = new(() => ClipTokenizer.Load(TokenizerConfig.Load(Fixtures.Path("pipeline-tiny", "model", "tokenizer"))));

    public static TheoryData<int> CaseIndices()
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < Cases().Count; i++)
        {
            data.Add(i);
        }

        return data;
    }

    private static List<(string Prompt, int[] Ids)> Cases()
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Fixtures.Path("pipeline-tiny", "tokenizer-cases.json")));
        return document.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => (c.GetProperty("prompt").GetString()!, c.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray()))
            .ToList();
    }

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void Ids_equal_the_reference_for_every_fixture_case(int index)
    {
        var (prompt, expected) = Cases()[index];
        var encoded = Tiny.Value.Encode(prompt);
        Assert.Equal(expected, encoded.Ids);
    }

    [Fact]
    public void The_fixture_settings_are_read_from_the_folder()
    {
        var tokenizer = Tiny.Value;
        Assert.Equal(77, tokenizer.MaxLength);
        Assert.Equal((532, 533, 0, 533), (tokenizer.BosId, tokenizer.EosId, tokenizer.PadId, tokenizer.UnkId));
        Assert.Equal(534, tokenizer.VocabularySize);
    }

    [Fact]
    public void A_long_prompt_keeps_the_end_token_and_warns_naming_what_was_cut()
    {
        var prompt = string.Join(' ', Enumerable.Repeat("surfing dog", 40)) + " the end";
        var encoded = Tiny.Value.Encode(prompt);
        Assert.Equal(77, encoded.Ids.Count);
        Assert.Equal(533, encoded.Ids[76]);
        Assert.Equal(77, encoded.TokenCount);

        // 75 content tokens fit: 37 pairs and one "surfing"; what is left is "dog", 2 x 2 tokens ... "the end".
        Assert.StartsWith("dog surfing dog", encoded.TruncatedText, StringComparison.Ordinal);
        Assert.EndsWith("surfing dog the end", encoded.TruncatedText, StringComparison.Ordinal);
        Assert.Contains("up to 77 tokens: dog surfing", encoded.Warning, StringComparison.Ordinal);

        var fits = Tiny.Value.Encode("surfing dog");
        Assert.Null(fits.TruncatedText);
        Assert.Null(fits.Warning);
        Assert.Equal(4, fits.TokenCount);
    }

    [Fact]
    public void Special_tokens_are_matched_verbatim_and_only_verbatim()
    {
        var tokenizer = Tiny.Value;

        // "!" is this tokenizer's pad token, so it is matched before any clean-up, as transformers does.
        Assert.Equal([0], tokenizer.EncodeContent("!"));
        Assert.Equal([533], tokenizer.EncodeContent("<|endoftext|>"));
        Assert.Equal([513, 533, 527], tokenizer.EncodeContent("the<|endoftext|>dog"));

        // Upper case is not the special token: after lower-casing it is split like any text.
        var ids = tokenizer.EncodeContent("<|ENDOFTEXT|>");
        Assert.DoesNotContain(533, ids);
        Assert.Equal("<|endoftext|>", tokenizer.Decode(ids).Replace(" ", "", StringComparison.Ordinal));
    }

    [Fact]
    public void Text_is_cleaned_up_before_splitting()
    {
        var tokenizer = Tiny.Value;
        var plain = tokenizer.Encode("the dog").Ids;
        Assert.Equal(plain, tokenizer.Encode("  THE \t\n dog  ").Ids);
        Assert.Equal(plain, tokenizer.Encode("The\u00A0Dog").Ids);

        // Decomposed accents compose first (NFC), so both spellings give one set of ids.
        Assert.Equal(tokenizer.Encode("caf\u00E9").Ids, tokenizer.Encode("cafe\u0301").Ids);
    }

    [Fact]
    public void Decoding_gives_the_words_back()
    {
        var tokenizer = Tiny.Value;
        Assert.Equal("a cat surfing on the water", tokenizer.Decode(tokenizer.EncodeContent("A cat surfing on the water")));
        Assert.Equal("ünïcode café", tokenizer.Decode(tokenizer.EncodeContent("Ünïcode Café")));
    }

    [Fact]
    public void Missing_or_malformed_files_name_the_file()
    {
        var folder = Fixtures.TempFolder("tokenizer-bad");
        Fixtures.CopyTree(Fixtures.Path("pipeline-tiny", "model", "tokenizer"), folder);
        File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\nt h\nq zz\n");
        var e = Assert.Throws<ModelFileException>(() => ClipTokenizer.Load(TokenizerConfig.Load(folder)));
        Assert.Contains("merges.txt, line 3", e.Message, StringComparison.Ordinal);

        File.WriteAllText(Path.Combine(folder, "vocab.json"), "{\"a\": 0,");
        e = Assert.Throws<ModelFileException>(() => ClipTokenizer.Load(TokenizerConfig.Load(folder)));
        Assert.Contains("vocab.json is not valid JSON", e.Message, StringComparison.Ordinal);

        File.Delete(Path.Combine(folder, "vocab.json"));
        e = Assert.Throws<ModelFileException>(() => ClipTokenizer.Load(TokenizerConfig.Load(folder)));
        Assert.Contains("no vocab.json", e.Message, StringComparison.Ordinal);
    }
}
