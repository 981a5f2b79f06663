using System.Text.Json;
using CudaI2V.Cli;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Cli;

/// <summary><c>cudai2v bench pipeline</c> as CI runs it: the demo's tiny pipeline (on the CPU without a GPU), two presets, one step each.</summary>
public sealed class PipelineBenchTests
{
    [Fact]
    public void Bench_pipeline_compares_presets_and_writes_json()
    {
        var dir = Fixtures.TempFolder("bench-pipeline");
        var json = Path.Combine(dir, "bench.json");
        var (code, output, error) = Run(["bench", "pipeline", "--presets", "release,fast", "--steps", "1", "--frames", "1", "--json", json, "--cache-dir", Path.Combine(dir, "cache")]);
        Assert.True(code == ExitCodes.Success, error);
        Assert.Contains("release  ddim", output, StringComparison.Ordinal);
        Assert.Contains("fast     dpmpp-2m", output, StringComparison.Ordinal);

        using var document = JsonDocument.Parse(File.ReadAllBytes(json));
        var presets = document.RootElement.GetProperty("presets").EnumerateArray().ToArray();
        Assert.Equal(["release", "fast"], presets.Select(p => p.GetProperty("preset").GetString()));
        Assert.Equal([50, 25], presets.Select(p => p.GetProperty("unet_calls_per_video").GetInt32()));
        Assert.All(presets, p => Assert.Equal(1, p.GetProperty("steps_run").GetInt32()));
        var perCall = presets[0].GetProperty("unet_tflop_per_call").GetDouble();
        Assert.True(perCall > 0);
        Assert.Equal(50 * perCall, presets[0].GetProperty("unet_tflop_per_video").GetDouble(), 9);
        Assert.Equal(25 * perCall, presets[1].GetProperty("unet_tflop_per_video").GetDouble(), 9);
        Assert.Equal(0, presets[0].GetProperty("sampler_history_bytes").GetInt64());                     // DDIM keeps nothing between steps
        Assert.True(presets[1].GetProperty("sampler_history_bytes").GetInt64() > 0);                      // DPM-Solver++ 2M keeps two predictions
        Assert.True(presets[1].GetProperty("stage_seconds").GetProperty("Denoising").GetDouble() > 0);

        (code, _, error) = Run(["bench", "pipeline", "--presets", "turbo"]);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("turbo", error, StringComparison.Ordinal);
    }
}
