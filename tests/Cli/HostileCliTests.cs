using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using CudaI2V.Cli;
using CudaI2V.Tests.Pipeline;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Cli;

/// <summary>
/// The built <c>cudai2v</c> run as a user would, on hostile inputs, under a 24 GB address-space limit
/// (<c>ulimit -v 24000000</c>): each ends within 120 s with exit 2 or 3 and one line on stderr, never a stack trace,
/// an out-of-memory abort or a hang.
/// </summary>
public sealed class HostileCliTests
{
    private readonly string _dir = Fixtures.TempFolder("hostile-cli");

    [Fact]
    public void Hostile_inputs_end_with_exit_2_or_3_and_one_line()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && File.Exists("/bin/bash"), "the address-space limit is set with bash's ulimit on Linux");
        var image = Path.Combine(_dir, "many-frames.gif");
        File.WriteAllBytes(image, HostileImageTests.AnimatedGif(3000, 3000, frames: 600));
        var fifo = Path.Combine(_dir, "pipe.png");
        HostileImageTests.MakeFifo(fifo);

        var zeroScale = Pipeline("vae/config.json", "scaling_factor", "0");
        var cropMismatch = Pipeline("feature_extractor/preprocessor_config.json", "crop_size", "{\"height\": 48, \"width\": \"48\"}");
        var generate = (string model, string img, string output) => new[] { "generate", "--model", model, "--image", img, "--prompt", "a cat", "--out", output, "--device", "cpu", "--cache-dir", Path.Combine(_dir, "cache") };
        var cases = new (string What, string[] Args, int Expected)[]
        {
            ("empty --out", generate(zeroScale, image, ""), ExitCodes.Usage),
            ("--out /", generate(zeroScale, image, "/"), ExitCodes.Usage),
            (".mp4 without ffmpeg", generate(zeroScale, image, Path.Combine(_dir, "v.mp4")), ExitCodes.Usage),
            ("a pipe as the image", generate(zeroScale, fifo, Path.Combine(_dir, "v.gif")), ExitCodes.BadInput),
            ("scaling_factor 0", generate(zeroScale, image, Path.Combine(_dir, "v.gif")), ExitCodes.BadInput),
            ("crop_size of strings", ["inspect", "--model", Path.Combine(cropMismatch, "feature_extractor")], ExitCodes.BadInput),
        };

        foreach (var (what, args, expected) in cases)
        {
            var (code, error) = RunLimited(args);
            Assert.True(code == expected, $"{what}: exit {code}, expected {expected}: {error}");
            Assert.True(error.TrimEnd().Split('\n').Length == 1, $"{what}: stderr is not one line: {error}");
        }

        Assert.False(File.Exists(Path.Combine(_dir, "v.gif")));
    }

    /// <summary>Runs the built tool under bash with the address-space limit and a PATH without ffmpeg; returns its exit code and stderr.</summary>
    private static (int Code, string Error) RunLimited(string[] args)
    {
        var dotnet = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", "..", "dotnet"));
        var tool = Path.Combine(AppContext.BaseDirectory, "cudai2v.dll");
        var start = new ProcessStartInfo("/bin/bash") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in new[] { "-c", "ulimit -v 24000000 && exec \"$0\" \"$@\"", dotnet, tool }.Concat(args))
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["PATH"] = "/nonexistent";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        _ = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        if (!process.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"cudai2v {string.Join(' ', args)} ran past 120 s.");
        }

        return (process.ExitCode, stderr.Result);
    }

    /// <summary>A copy of the tiny pipeline's configs (no weights: each case is refused before they are read) with one value replaced.</summary>
    private string Pipeline(string file, string key, string value)
    {
        var root = Path.Combine(_dir, Guid.NewGuid().ToString("N"));
        Fixtures.CopyTree(Fixtures.Path("pipeline-tiny", "model"), root);
        var path = Path.Combine(root, file);
        var node = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        node[key] = JsonNode.Parse(value);
        File.WriteAllText(path, node.ToJsonString());
        return root;
    }
}
