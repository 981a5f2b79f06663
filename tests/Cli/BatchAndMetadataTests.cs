using System.Text.Json;
using CudaI2V.Cli;
using CudaI2V.Cli.Commands;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Cli;

/// <summary>Several videos on one loaded engine (<c>--count</c>, several seeds, <c>--batch</c>) and the settings file beside each.</summary>
public sealed class BatchAndMetadataTests
{
    private readonly string _dir = Fixtures.TempFolder("batch");

    private string Cache => Path.Combine(_dir, "cache");

    [Fact]
    public void Count_three_writes_three_numbered_videos_and_their_settings_from_one_engine()
    {
        var gif = Path.Combine(_dir, "new", "folder", "d.gif"); // missing parents are created
        var (code, output, error) = Run(["generate", "--demo", "--out", gif, "--cache-dir", Cache, "--count", "3", "--seed", "5", "--frames", "2", "--steps", "1", "--device", "cpu"]);
        Assert.True(code == ExitCodes.Success, error);
        var folder = Path.GetDirectoryName(gif)!;
        string[] expected = ["d-1.gif", "d-1.json", "d-2.gif", "d-2.json", "d-3.gif", "d-3.json"];
        Assert.Equal(expected, Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal([Path.Combine(folder, "d-1.gif"), Path.Combine(folder, "d-2.gif"), Path.Combine(folder, "d-3.gif")], output.Trim().Split('\n'));
        Assert.Single(error.Split('\n'), l => l.Contains("text encoder: ONNX Runtime", StringComparison.Ordinal)); // loaded once
        Assert.Contains("video 3 of 3", error, StringComparison.Ordinal);

        // The seeds follow on from the one given; the settings record every option and what ran.
        var seeds = Enumerable.Range(1, 3).Select(i => Read(Path.Combine(folder, $"d-{i}.json")).GetProperty("seed").GetUInt64());
        Assert.Equal([5UL, 6UL, 7UL], seeds);
        var json = Read(Path.Combine(folder, "d-2.json"));
        Assert.Equal("a cat surfing on the water", json.GetProperty("prompt").GetString());
        Assert.Equal("blurry", json.GetProperty("negative_prompt").GetString());
        Assert.Equal(2, json.GetProperty("frames").GetInt32());
        Assert.Equal(1, json.GetProperty("steps").GetInt32());
        Assert.Equal(9.0, json.GetProperty("guidance").GetDouble());
        Assert.Equal((40, 56), (json.GetProperty("height").GetInt32(), json.GetProperty("width").GetInt32()));
        Assert.Equal("Mean", json.GetProperty("vae_encode").GetString()); // enums by their .NET names
        Assert.Equal("demo", json.GetProperty("image").GetString());
        Assert.Equal(Path.Combine(folder, "d-2.gif"), json.GetProperty("output").GetString());
        var model = json.GetProperty("model");
        Assert.True(Directory.Exists(model.GetProperty("folder").GetString()));
        Assert.Matches("^[0-9a-f]{64}$", model.GetProperty("weights_sha256").GetString()!);
        Assert.Contains(model.GetProperty("weights").EnumerateArray(), w => w.GetProperty("file").GetString()!.StartsWith("unet/", StringComparison.Ordinal));
        Assert.Equal("cpu", json.GetProperty("device").GetProperty("backend").GetString());
        Assert.True(json.GetProperty("seconds").GetProperty("denoising").GetDouble() > 0);
        Assert.Equal(CliApp.Version, json.GetProperty("version").GetString());
        Assert.False(json.TryGetProperty("initial_noise", out _));
    }

    [Fact]
    public void A_jsonl_file_of_requests_runs_each_with_its_own_settings_and_refuses_unknown_fields()
    {
        var file = Path.Combine(_dir, "requests.jsonl");
        var first = Path.Combine(_dir, "first.gif");
        File.WriteAllLines(file, [
            $$"""{"prompt": "a red boat", "seed": 3, "out": {{JsonSerializer.Serialize(first)}}}""",
            "",
            """{"prompt": "a blue boat", "seed": 4, "frames": 3}""",
        ]);
        var gif = Path.Combine(_dir, "rest.gif");
        var (code, _, error) = Run(["generate", "--demo", "--batch", file, "--out", gif, "--cache-dir", Cache, "--frames", "2", "--steps", "1", "--device", "cpu"]);
        Assert.True(code == ExitCodes.Success, error);
        Assert.Equal("a red boat", Read(Path.Combine(_dir, "first.json")).GetProperty("prompt").GetString());
        var second = Read(Path.Combine(_dir, "rest-2.json"));
        Assert.Equal((4UL, 3), (second.GetProperty("seed").GetUInt64(), second.GetProperty("frames").GetInt32()));

        File.WriteAllText(file, """{"prompt": "x", "sampler": "euler"}""");
        var unknown = Run(["generate", "--demo", "--batch", file, "--cache-dir", Cache]);
        Assert.Equal(ExitCodes.Usage, unknown.Code);
        Assert.Contains("line 1: unknown field 'sampler'", unknown.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Jobs_number_their_outputs_and_take_one_seed_per_video_or_count_on_from_one()
    {
        Assert.Equal("out/d-2.gif", GenerationJobs.Numbered("out/d.gif", 2));
        Assert.Equal("frames-3/", GenerationJobs.Numbered("frames/", 3));
        Assert.Equal(Path.GetFullPath("d.json"), RunMetadata.PathFor("d.gif"));
        Assert.Equal(Path.Combine(Path.GetFullPath("frames"), "frames.json"), RunMetadata.PathFor("frames/"));

        var template = new GenerationOptions { Prompt = "a", Height = 40, Width = 56 };
        var jobs = GenerationJobs.FromCommandLine(template, ["a", "b"], [10, 20], null, null, "v.gif");
        Assert.Equal([("a", 10UL, "v-1.gif"), ("a", 20UL, "v-2.gif"), ("b", 10UL, "v-3.gif"), ("b", 20UL, "v-4.gif")], jobs.Select(j => (j.Options.Prompt, j.Options.Seed!.Value, j.Out)));
        Assert.Equal("v.gif", Assert.Single(GenerationJobs.FromCommandLine(template, ["a"], [], null, null, "v.gif")).Out);
        Assert.All(GenerationJobs.FromCommandLine(template, ["a"], [], 2, null, "v.gif"), j => Assert.Null(j.Options.Seed));
        var wrong = Assert.Throws<UsageException>(() => GenerationJobs.FromCommandLine(template, ["a"], [1, 2], 3, null, "v.gif"));
        Assert.Contains("--seed is given 2 times", wrong.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Version_prints_the_version()
    {
        var (code, output, _) = Run("--version");
        Assert.Equal(ExitCodes.Success, code);
        Assert.StartsWith("cudai2v 0.", output, StringComparison.Ordinal);
        Assert.Contains("--version", CliApp.GeneralHelp(), StringComparison.Ordinal);
    }

    private static JsonElement Read(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.Clone();
    }
}
