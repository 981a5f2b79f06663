using System.Diagnostics;
using System.Globalization;
using CudaI2V.Loader;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Runtime.Caching;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Pipeline;

/// <summary>Runs alone: the soak test measures the whole process's managed memory and handles.</summary>
[CollectionDefinition(nameof(SoakRunsAlone), DisableParallelization = true)]
public sealed class SoakRunsAlone;

/// <summary>
/// Many generations in one process on the CPU (the tiny pipeline, 1 frame, 1 step, 40x56): managed memory and
/// open handles must stay flat once warm. A CPU generation takes about 5 s on a busy 2-core machine, so CI runs 8
/// (3 warm-up, 5 measured); <c>CUDAI2V_SOAK_COUNT=100</c> runs the full soak. Figures and command: docs/robustness.md.
/// </summary>
[Collection(nameof(SoakRunsAlone))]
public sealed class SoakTests(ITestOutputHelper output)
{
    /// <summary>Managed bytes the heap may grow by between the first and last measurement after warm-up.</summary>
    public const long ManagedGrowthBound = 8L * 1024 * 1024;

    /// <summary>Open handles (file descriptors) the process may gain over the run.</summary>
    public const int HandleGrowthBound = 4;

    [Fact]
    public void Repeated_generations_keep_managed_memory_and_handles_flat()
    {
        var count = int.TryParse(Environment.GetEnvironmentVariable("CUDAI2V_SOAK_COUNT"), NumberStyles.None, CultureInfo.InvariantCulture, out var c) ? c : 8;
        var cache = new CacheRoot(Fixtures.TempFolder("soak"));
        using var engine = VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(cache));
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        var token = TestContext.Current.CancellationToken;
        var clock = Stopwatch.StartNew();

        // Three prompts, each cached during the warm-up: later generations must not add to what the process holds.
        GenerationOptions Options(int i) => new() { Prompt = $"a cat, take {i % 3}", Frames = 1, Steps = 1, Height = 40, Width = 56, Seed = (ulong)i };
        const int WarmUp = 3;
        Assert.True(count > WarmUp, $"CUDAI2V_SOAK_COUNT must exceed the {WarmUp} warm-up generations.");
        for (var i = 0; i < WarmUp; i++)
        {
            engine.Generate(image, Options(i), cancellation: token);
        }

        var samples = new List<(int Generation, long Managed, int Handles)> { (WarmUp, Managed(), Handles()) };
        for (var i = WarmUp; i < count; i++)
        {
            var result = engine.Generate(image, Options(i), cancellation: token);
            Assert.Single(result.Frames);
            if ((i + 1 - WarmUp) % 30 == 0 || i == count - 1)
            {
                samples.Add((i + 1, Managed(), Handles()));
            }
        }

        var lines = samples.Select(s => string.Create(CultureInfo.InvariantCulture, $"after {s.Generation,3}: managed {s.Managed / 1024.0 / 1024.0:F2} MiB, handles {s.Handles}"));
        var report = string.Create(CultureInfo.InvariantCulture, $"{count} generations in {clock.Elapsed.TotalSeconds:F1} s\n") + string.Join('\n', lines);
        output.WriteLine(report);
        Assert.True(samples[^1].Managed - samples[0].Managed <= ManagedGrowthBound, report);
        Assert.True(samples[^1].Handles - samples[0].Handles <= HandleGrowthBound, report);
    }

    private static long Managed()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static int Handles()
    {
        if (OperatingSystem.IsLinux())
        {
            return Directory.GetFileSystemEntries("/proc/self/fd").Length;
        }

        using var self = Process.GetCurrentProcess();
        return self.HandleCount;
    }
}
