using CudaI2V.Pipeline.Text;

namespace CudaI2V.Tests.Pipeline;

/// <summary>NFC, clean-up, lower case and CLIP's split pattern, on the cases that distinguish them.</summary>
public sealed class TextNormalizationTests
{
    [Theory]
    [InlineData("e\u0301", "\u00E9")]
    [InlineData("\u212B", "\u00C5")] // singleton decomposition: ANGSTROM SIGN -> A WITH RING
    [InlineData("A\u030A\u0301", "\u01FA")] // composes twice
    [InlineData("a\u0323\u0302", "\u1EAD")] // marks already in canonical order
    [InlineData("a\u0302\u0323", "\u1EAD")] // marks reordered by combining class first
    [InlineData("\u0958", "\u0915\u093C")] // composition exclusion stays decomposed
    [InlineData("\u1100\u1161\u11A8", "\uAC01")] // Hangul L + V + T
    [InlineData("\u0301e", "\u0301e")] // a leading mark composes with nothing
    [InlineData("plain ascii", "plain ascii")]
    [InlineData("\U0001D15E", "\U0001D157\U0001D165")] // musical symbol: excluded, decomposes outside the BMP
    public void Nfc_matches_the_unicode_rules(string input, string expected) =>
        Assert.Equal(expected, UnicodeNfc.Normalize(input));

    [Theory]
    [InlineData("  Hello\t\n  World ", " hello world ")]
    [InlineData("\u0130", "i\u0307")]
    [InlineData("\u039F\u0394\u039F\u03A3", "\u03BF\u03B4\u03BF\u03C2")] // word-final sigma
    [InlineData("\u03A3\u039F", "\u03C3\u03BF")]
    [InlineData("A\u2003B", "a b")]
    public void Clean_up_collapses_white_space_and_lower_cases(string input, string expected) =>
        Assert.Equal(expected, ClipTextNormalizer.Normalize(input, lowerCase: true));

    [Theory]
    [InlineData("a cat's 42 toys!!", "a|cat|'s|4|2|toys|!!")]
    [InlineData("don't-stop", "don|'t|-|stop")]
    [InlineData("x²y", "x|²|y")]
    [InlineData("!'s", "!'|s")]
    [InlineData("\U0001D400bc d", "\U0001D400bc|d")] // a letter outside the BMP is a letter
    [InlineData("<|startoftext|>hi", "<||startoftext||>|hi")]
    [InlineData("", "")]
    public void Pre_tokenization_follows_the_clip_pattern(string input, string expected) =>
        Assert.Equal(expected, string.Join('|', ClipTextNormalizer.PreTokenize(input)));
}
