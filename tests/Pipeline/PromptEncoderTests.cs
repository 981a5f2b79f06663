using System.Text.Json;
using CudaI2V.Loader;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Pipeline.Text;
using CudaI2V.Runtime.Caching;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Pipeline;

/// <summary>Prompt to embedding through the tokenizer and ONNX Runtime, against transformers, and its caches.</summary>
public sealed class PromptEncoderTests
{
    private static List<string> Prompts()
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Fixtures.Path("pipeline-tiny", "tokenizer-cases.json")));
        return document.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("prompt").GetString()!).ToList();
    }

    [Fact]
    public void Each_fixture_prompt_gives_transformers_clip_skip_embedding()
    {
        var log = new List<string>();
        using var encoder = PromptEncoder.Open(
            ModelDirectory.Open(Fixtures.PipelineTiny), new PromptEncoderOptions(new CacheRoot(Fixtures.TempFolder("pe")), Log: log.Add));
        using var io = SafetensorsFile.Open(Fixtures.Path("pipeline-tiny", "text-encoder-io.safetensors"));
        var expected = io.ReadFloat32("prompt_embeds_clip_skip1");
        var prompts = Prompts();
        for (var i = 0; i < prompts.Count; i++)
        {
            var actual = encoder.Encode(prompts[i]);
            Assert.Equal([1, 77, 32], actual.Shape.Dims.ToArray());
            new Tolerance(1e-4, 0, 1e-8).AssertClose(expected.AsSpan(i * 77 * 32, 77 * 32).ToArray().Select(v => (double)v).ToArray(), actual, prompts[i]);
        }

        // One line says which provider runs it and why; the long prompt's truncation is reported.
        Assert.Single(log, l => l.StartsWith("text encoder: ONNX Runtime CPUExecutionProvider (this build has ONNX Runtime's CPU package", StringComparison.Ordinal));
        Assert.Single(log, l => l.StartsWith("The following part of your input was truncated", StringComparison.Ordinal));
    }

    [Fact]
    public void A_repeated_prompt_and_the_negative_prompt_are_encoded_once()
    {
        using var encoder = PromptEncoder.Open(ModelDirectory.Open(Fixtures.PipelineTiny), new PromptEncoderOptions(new CacheRoot(Fixtures.TempFolder("pe-once"))));
        var first = encoder.EncodeForGuidance("a cat surfing on the water", null);
        Assert.Equal([2, 77, 32], first.Shape.Dims.ToArray());
        Assert.Equal(2, encoder.EncoderRuns);

        var again = encoder.EncodeForGuidance("a cat surfing on the water", "");
        Assert.Equal(2, encoder.EncoderRuns);
        Assert.Equal(first.AsSpan<float>().ToArray(), again.AsSpan<float>().ToArray());
        Assert.Equal(encoder.Encode("").AsSpan<float>().ToArray(), first.AsSpan<float>()[..(77 * 32)].ToArray());

        // Differently written, same ids: same entry.
        encoder.Encode("  A CAT surfing on the water ");
        Assert.Equal(2, encoder.EncoderRuns);
        Assert.Equal(2, encoder.Cache.Count);
    }

    [Fact]
    public void The_disk_cache_serves_a_later_process_and_the_model_is_not_rebuilt()
    {
        var cache = new CacheRoot(Fixtures.TempFolder("pe-disk"));
        var model = ModelDirectory.Open(Fixtures.PipelineTiny);
        float[] first;
        using (var encoder = PromptEncoder.Open(model, new PromptEncoderOptions(cache, DiskCache: true)))
        {
            Assert.True(encoder.Session.Entry!.Built);
            first = encoder.Encode("the dog").AsSpan<float>().ToArray();
            Assert.Equal(1, encoder.EncoderRuns);
            Assert.True(File.Exists(encoder.Cache.DiskPath(encoder.Tokenizer.Encode("the dog").Ids)));
        }

        using (var encoder = PromptEncoder.Open(model, new PromptEncoderOptions(cache, DiskCache: true)))
        {
            Assert.False(encoder.Session.Entry!.Built);
            Assert.Equal(first, encoder.Encode("the dog").AsSpan<float>().ToArray());
            Assert.Equal(0, encoder.EncoderRuns);
        }

        Assert.Empty(Directory.GetFiles(Path.Combine(cache.Path, PromptEmbeddingCache.Area), "*partial*"));
    }

    [Fact]
    public void A_file_onnx_runtime_cannot_load_is_a_model_file_error_naming_it()
    {
        var path = Path.Combine(Fixtures.TempFolder("pe-garbage"), "model.onnx");
        File.WriteAllBytes(path, [0x08, 0x07, 0x12, 0xFF, 0xFF]);
        var e = Assert.Throws<ModelFileException>(() => TextEncoderSession.Open(path, new(TextEncoderProvider.Cpu)));
        Assert.Contains("ONNX Runtime could not load " + path, e.Message, StringComparison.Ordinal);
        Assert.Equal(path, e.FilePath);
    }
}
