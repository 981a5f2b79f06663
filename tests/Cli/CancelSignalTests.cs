using System.Diagnostics;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Cli;

/// <summary>
/// Ctrl+C as a terminal sends it: SIGINT to a separate <c>cudai2v generate</c> process in the middle of a CPU step that
/// takes minutes. The run must end within seconds, write nothing and say so.
/// </summary>
public sealed class CancelSignalTests
{
    [Fact]
    public async Task Sigint_mid_step_ends_the_run_within_seconds_and_writes_no_file()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Skip("SIGINT is a Unix signal; Windows delivers Ctrl+C to the console instead.");
        }

        var dir = Fixtures.TempFolder("sigint");
        var cli = Path.Combine(AppContext.BaseDirectory, "cudai2v.dll");
        var gif = Path.Combine(dir, "out", "cancelled.gif");

        // The demo model at 96x128: one CPU step of its UNet takes a minute or more on two cores.
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { cli, "generate", "--demo", "--device", "cpu", "--height", "96", "--width", "128", "--steps", "2", "--out", gif, "--cache-dir", Path.Combine(dir, "cache") },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var process = Process.Start(start)!;
        var lines = new List<string>();
        var denoising = new TaskCompletionSource();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (lines)
            {
                lines.Add(e.Data);
            }

            if (e.Data.StartsWith("denoising", StringComparison.Ordinal))
            {
                denoising.TrySetResult();
            }
        };
        process.BeginErrorReadLine();
        try
        {
            await denoising.Task.WaitAsync(TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken);
            await Task.Delay(1000, TestContext.Current.CancellationToken); // inside the first step

            using (var kill = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync(TestContext.Current.CancellationToken);
            }

            var signalled = Stopwatch.StartNew();
            using (var limit = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
            {
                var ended = await process.WaitForExitAsync(limit.Token).ContinueWith(t => t.IsCompletedSuccessfully, TaskScheduler.Default);
                Assert.True(ended, "the run did not end within 5 s of SIGINT:\n" + Joined(lines));
            }
            Assert.InRange(signalled.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
            Assert.Equal(1, process.ExitCode);
            Assert.Contains(lines, l => l.Contains("cancelled; no video was written", StringComparison.Ordinal));
            Assert.False(File.Exists(gif));
            Assert.Empty(Directory.Exists(Path.GetDirectoryName(gif)) ? Directory.GetFileSystemEntries(Path.GetDirectoryName(gif)!) : []);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }

    private static string Joined(List<string> lines)
    {
        lock (lines)
        {
            return string.Join('\n', lines);
        }
    }
}
