using System.Text.Json;
using CudaI2V.Cli;
using CudaI2V.Loader.Onnx;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Pipeline;

/// <summary>
/// <c>cudai2v verify text-encoder</c> and <c>cudai2v tokenize</c> against transformers' outputs, the ONNX model
/// cache (built once), and exit code 3 for bad input. Every test uses its own --cache-dir.
/// </summary>
public sealed class VerifyTextEncoderTests
{
    private static string Io => Fixtures.Path("pipeline-tiny", "text-encoder-io.safetensors");


    private static string[] Entries(string cache) =>
        Directory.Exists(Path.Combine(cache, ClipTextOnnxCache.Area))
            ? Directory.GetDirectories(Path.Combine(cache, ClipTextOnnxCache.Area))
            : [];

    [Fact]
    public void Verify_text_encoder_passes_for_all_five_prompts_and_a_second_run_rebuilds_nothing()
    {
        var cache = Fixtures.TempFolder("te-cache");
        var (code, output, error) = Run("verify", "text-encoder", "--model", Fixtures.PipelineTiny, "--io", Io, "--cache-dir", cache);
        Assert.True(code == ExitCodes.Success, output + error);
        var lines = output.TrimEnd().Split('\n');
        Assert.Equal(
            ["hidden_states.0", "hidden_states.1", "hidden_states.2", "hidden_states.3", "last_hidden_state", "prompt_embeds_clip_skip1"],
            lines[..^1].Select(l => l.Split(' ')[0]));
        Assert.All(lines[..^1], l => Assert.Contains("[5, 77, 32]: max_abs=", l, StringComparison.Ordinal));
        Assert.Matches(@"^max_abs=\d\.\d{3}e[-+]\d\d max_rel=\d\.\d{3}e[-+]\d\d nmse=\d\.\d{3}e[-+]\d\d PASS$", lines[^1]);
        Assert.Contains("text encoder: built the ONNX model", error, StringComparison.Ordinal);
        Assert.Contains("text encoder: ONNX Runtime CPUExecutionProvider (the CPU was asked for)", error, StringComparison.Ordinal);

        var entry = Assert.Single(Entries(cache));
        var model = Path.Combine(entry, ClipTextOnnxModel.ModelFileName);
        var written = File.GetLastWriteTimeUtc(model);

        var second = Run("verify", "text-encoder", "--model", Fixtures.PipelineTiny, "--io", Io, "--cache-dir", cache);
        Assert.Equal(ExitCodes.Success, second.Code);
        Assert.Equal(lines[^1], second.Out.TrimEnd().Split('\n')[^1]);
        Assert.DoesNotContain("built the ONNX model", second.Err, StringComparison.Ordinal);
        Assert.Contains("model from the cache", second.Err, StringComparison.Ordinal);
        Assert.Equal(entry, Assert.Single(Entries(cache)));
        Assert.Equal(written, File.GetLastWriteTimeUtc(model));
    }

    [Fact]
    public void A_tolerance_below_the_error_fails_with_exit_code_1()
    {
        var (code, output, _) = Run("verify", "text-encoder", "--model", Fixtures.PipelineTiny, "--io", Io, "--cache-dir", Fixtures.TempFolder("te-tol"), "--tolerance", "1e-12");
        Assert.Equal(ExitCodes.Failed, code);
        Assert.EndsWith("FAIL", output.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public void Tokenize_prints_the_ids_and_warns_about_a_truncated_prompt()
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Fixtures.Path("pipeline-tiny", "tokenizer-cases.json")));
        var first = document.RootElement.GetProperty("cases")[0];
        var (code, output, error) = Run("tokenize", "--model", Fixtures.Path("pipeline-tiny", "model"), "--prompt", first.GetProperty("prompt").GetString()!);
        Assert.Equal(ExitCodes.Success, code);
        Assert.Equal(string.Join(' ', first.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32())), output.TrimEnd());
        Assert.Empty(error);

        (code, output, error) = Run("tokenize", "--model", Fixtures.Path("pipeline-tiny", "model", "tokenizer"), "--prompt", string.Join(' ', Enumerable.Repeat("the dog", 50)));
        Assert.Equal(ExitCodes.Success, code);
        Assert.Equal(77, output.TrimEnd().Split(' ').Length);
        Assert.Contains("warning: The following part of your input was truncated because CLIP can only handle sequences up to 77 tokens: dog the dog", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_tokenizer_or_text_encoder_files_exit_3_naming_what_is_missing()
    {
        var (code, _, error) = Run("tokenize", "--model", Fixtures.ComponentModel("unet-tiny"), "--prompt", "a cat");
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("no tokenizer", error, StringComparison.Ordinal);

        var folder = Fixtures.TempFolder("te-missing");
        Fixtures.CopyTree(Fixtures.PipelineTiny, folder);
        File.Delete(Path.Combine(folder, "tokenizer", "merges.txt"));
        (code, _, error) = Run("tokenize", "--model", folder, "--prompt", "a cat");
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("no merges.txt", error, StringComparison.Ordinal);

        File.Delete(Path.Combine(folder, "text_encoder", "model.safetensors"));
        var cache = Fixtures.TempFolder("te-missing-cache");
        (code, _, error) = Run("verify", "text-encoder", "--model", folder, "--io", Io, "--cache-dir", cache);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("No text_encoder weights", error, StringComparison.Ordinal);
        Assert.Contains("model.safetensors", error, StringComparison.Ordinal);
        Assert.Empty(Entries(cache));
    }

    [Fact]
    public void A_corrupt_weight_file_exits_3_and_leaves_no_cache_entry()
    {
        var folder = Fixtures.TempFolder("te-corrupt");
        Fixtures.CopyTree(Fixtures.PipelineTiny, folder);
        var weights = Path.Combine(folder, "text_encoder", "model.safetensors");
        var bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..(bytes.Length - 100)]);
        var cache = Fixtures.TempFolder("te-corrupt-cache");

        var (code, _, error) = Run("verify", "text-encoder", "--model", folder, "--io", Io, "--cache-dir", cache);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains(weights, error, StringComparison.Ordinal);
        Assert.Empty(Entries(cache));
    }

    [Fact]
    public void A_damaged_cache_entry_is_built_again()
    {
        var cache = Fixtures.TempFolder("te-damaged");
        Assert.Equal(ExitCodes.Success, Run("verify", "text-encoder", "--model", Fixtures.PipelineTiny, "--io", Io, "--cache-dir", cache).Code);
        var model = Path.Combine(Assert.Single(Entries(cache)), ClipTextOnnxModel.ModelFileName);

        // Same length, so only ONNX Runtime can tell: it refuses the file, and the entry is rebuilt.
        File.WriteAllBytes(model, new byte[new FileInfo(model).Length]);
        var (code, output, error) = Run("verify", "text-encoder", "--model", Fixtures.PipelineTiny, "--io", Io, "--cache-dir", cache);
        Assert.True(code == ExitCodes.Success, output + error);
        Assert.Contains("could not load the cached model", error, StringComparison.Ordinal);
        Assert.Contains("built the ONNX model", error, StringComparison.Ordinal);

        // A missing data file makes the entry incomplete: rebuilt without asking ONNX Runtime.
        File.Delete(Path.Combine(Assert.Single(Entries(cache)), ClipTextOnnxModel.DataFileName));
        (code, _, error) = Run("verify", "text-encoder", "--model", Fixtures.PipelineTiny, "--io", Io, "--cache-dir", cache);
        Assert.Equal(ExitCodes.Success, code);
        Assert.Contains("is incomplete; rebuilding it", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Wrong_io_tensors_exit_3_naming_them()
    {
        var dir = Fixtures.TempFolder("te-io");
        using var io = SafetensorsFile.Open(Io);
        var all = io.Names.ToDictionary(n => n, n => io.GetTensor(n).To(io.GetTensor(n).DType));
        var cache = Fixtures.TempFolder("te-io-cache");

        var missing = Path.Combine(dir, "missing.safetensors");
        SafetensorsWriter.Write(missing, all.Where(p => p.Key != "hidden_states.2"));
        var (code, _, error) = Run("verify", "text-encoder", "--model", Fixtures.PipelineTiny, "--io", missing, "--cache-dir", cache);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("'hidden_states.2'", error, StringComparison.Ordinal);

        var ids = all["input_ids"].To(DType.I64);
        ids.AsSpan<long>()[3] = 534;
        var outOfRange = Path.Combine(dir, "range.safetensors");
        SafetensorsWriter.Write(outOfRange, all.Select(p => p.Key == "input_ids" ? new KeyValuePair<string, Tensor>(p.Key, ids) : p));
        (code, _, error) = Run("verify", "text-encoder", "--model", Fixtures.PipelineTiny, "--io", outOfRange, "--cache-dir", cache);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("id 534; this text encoder's vocab_size is 534", error, StringComparison.Ordinal);
    }
}
