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
        var perCachedCall = presets[1].GetProperty("unet_tflop_per_cached_call").GetDouble();
        Assert.True(perCachedCall > 0 && perCachedCall < perCall);                                        // fast caches every other step
        Assert.Equal([13, 12], new[] { presets[1].GetProperty("full_calls_per_video").GetInt32(), presets[1].GetProperty("cached_calls_per_video").GetInt32() });
        Assert.Equal((13 * perCall) + (12 * perCachedCall), presets[1].GetProperty("unet_tflop_per_video").GetDouble(), 9);
        Assert.Equal(0, presets[0].GetProperty("sampler_history_bytes").GetInt64());                     // DDIM keeps nothing between steps
        Assert.True(presets[1].GetProperty("sampler_history_bytes").GetInt64() > 0);                      // DPM-Solver++ 2M keeps two predictions
        Assert.True(presets[1].GetProperty("stage_seconds").GetProperty("Denoising").GetDouble() > 0);

        // The same preset at cache intervals 1, 2 and 3: the counted TFLOP per video falls by the cached calls times what
        // a cached call skips.
        var intervals = Path.Combine(dir, "intervals.json");
        (code, output, error) = Run(["bench", "pipeline", "--presets", "release", "--cache-intervals", "1,2,3", "--steps", "1", "--frames", "1", "--json", intervals, "--cache-dir", Path.Combine(dir, "cache")]);
        Assert.True(code == ExitCodes.Success, error);
        Assert.Contains("50 (17+33)", output, StringComparison.Ordinal);
        using var byInterval = JsonDocument.Parse(File.ReadAllBytes(intervals));
        var rows = byInterval.RootElement.GetProperty("presets").EnumerateArray().ToArray();
        Assert.Equal([1, 2, 3], rows.Select(r => r.GetProperty("cache_interval").GetInt32()));
        Assert.Equal([50, 25, 17], rows.Select(r => r.GetProperty("full_calls_per_video").GetInt32()));
        var skipped = perCall - rows[1].GetProperty("unet_tflop_per_cached_call").GetDouble();
        Assert.Equal(50 * perCall, rows[0].GetProperty("unet_tflop_per_video").GetDouble(), 9);
        Assert.Equal((50 * perCall) - (25 * skipped), rows[1].GetProperty("unet_tflop_per_video").GetDouble(), 9);
        Assert.Equal((50 * perCall) - (33 * skipped), rows[2].GetProperty("unet_tflop_per_video").GetDouble(), 9);

        (code, _, error) = Run(["bench", "pipeline", "--presets", "turbo"]);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("turbo", error, StringComparison.Ordinal);
    }
}
