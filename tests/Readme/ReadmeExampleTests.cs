using CudaI2V.Pipeline.Engine;
using CudaI2V.Tests.Support;
using Microsoft.Extensions.Logging;

namespace CudaI2V.Tests.Readme;

/// <summary>
/// The README's embedding example is <c>tests/Readme/VideoMaker.cs</c>, compiled with the tests: the README shows that
/// file verbatim (checked here), and the example runs on the tiny pipeline, falling back to the CPU with its warning
/// where there is no GPU.
/// </summary>
public sealed class ReadmeExampleTests
{
    [Fact]
    public void The_readme_shows_the_compiled_example_verbatim()
    {
        var readme = File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md")).ReplaceLineEndings("\n");
        var example = File.ReadAllText(Path.Combine(RepoPaths.Root, "tests", "Readme", "VideoMaker.cs")).ReplaceLineEndings("\n");
        Assert.Contains("```csharp\n" + example + "```\n", readme, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_example_runs_and_auto_falls_back_to_the_cpu_with_a_warning()
    {
        var dir = Fixtures.TempFolder("readme");
        var logger = new ListLogger();
        var gif = Path.Combine(dir, "cat.gif");
        var previous = Environment.GetEnvironmentVariable("CUDAI2V_CACHE_DIR");
        Environment.SetEnvironmentVariable("CUDAI2V_CACHE_DIR", Path.Combine(dir, "cache"));
        try
        {
            var result = await MyApp.VideoMaker.MakeAsync(
                Fixtures.PipelineTiny, Fixtures.Path("pipeline-tiny", "input.png"), gif, logger, TestContext.Current.CancellationToken, frames: 2, steps: 1, height: 40, width: 56);
            Assert.Equal(42UL, result.Seed);
        }
        finally
        {
            Environment.SetEnvironmentVariable("CUDAI2V_CACHE_DIR", previous);
        }

        Assert.True(File.Exists(gif));
        if (!GpuProbe.IsAvailable)
        {
            Assert.Contains(logger.Lines, l => l.Level == LogLevel.Warning && l.Text.StartsWith("no usable GPU (", StringComparison.Ordinal) && l.Text.EndsWith("running on the CPU reference backend.", StringComparison.Ordinal));
            Assert.DoesNotContain(logger.Lines, l => l.Text.Contains("Looked in", StringComparison.Ordinal));
        }

        Assert.Contains(logger.Lines, l => l.Level == LogLevel.Information && l.Text.StartsWith("memory plan: ", StringComparison.Ordinal));
    }

    [Fact]
    public void Cuda_without_a_gpu_is_refused_saying_why()
    {
        if (GpuProbe.IsAvailable)
        {
            Assert.Skip("This machine has a GPU; the refusal is tested where there is none.");
        }

        var e = Assert.Throws<GpuUnavailableException>(() => EngineBackends.Open(EngineBackend.Cuda, new CudaI2V.Runtime.Caching.CacheRoot(Fixtures.TempFolder("nogpu"))));
        Assert.StartsWith("no usable GPU: ", e.Message, StringComparison.Ordinal);
    }

    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string Text)> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines)
            {
                Lines.Add((logLevel, formatter(state, exception)));
            }
        }
    }
}
