using System.Text.Json;
using System.Text.RegularExpressions;
using CudaI2V.Cli;
using CudaI2V.Tests.Support;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Cli;

/// <summary>A new user's first hour: one-letter options, <c>--preview</c>, and usage lines that agree with their options.</summary>
public sealed partial class FirstHourCliTests
{
    private readonly string _dir = Fixtures.TempFolder("first-hour");

    private string Cache => Path.Combine(_dir, "cache");

    [Fact]
    public void Short_options_and_a_preview_every_step_beside_the_output()
    {
        var gif = Path.Combine(_dir, "out", "d.gif");
        var (code, output, error) = Run(["generate", "--demo", "-o", gif, "-p", "a red boat", "-n", "fog", "-s", "5", "-W", "48", "-H", "32", "--frames", "2", "--steps", "2", "--preview", "1", "--cache-dir", Cache, "--device", "cpu"]);
        Assert.True(code == ExitCodes.Success, error);
        Assert.Equal(gif, output.Trim());
        using (var json = JsonDocument.Parse(File.ReadAllText(Path.ChangeExtension(gif, ".json"))))
        {
            var root = json.RootElement;
            Assert.Equal(("a red boat", "fog", 5UL), (root.GetProperty("prompt").GetString(), root.GetProperty("negative_prompt").GetString(), root.GetProperty("seed").GetUInt64()));
            Assert.Equal((32, 48), (root.GetProperty("height").GetInt32(), root.GetProperty("width").GetInt32()));
        }

        // Two frames of 16x24 latents (the demo VAE halves the size) side by side: the last step's preview stays.
        var preview = Path.Combine(_dir, "out", "d.preview.png");
        Assert.Contains($"a preview every 1 steps in {preview}", error, StringComparison.Ordinal);
        using var image = Image.Load<Rgb24>(preview);
        Assert.Equal((48, 16), (image.Width, image.Height));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(gif)!, ".*")); // no temporary file left
    }

    [Fact]
    public void A_run_cancelled_after_its_first_preview_leaves_no_preview_and_no_video()
    {
        var gif = Path.Combine(_dir, "cancel.gif");
        var preview = Path.Combine(_dir, "cancel.preview.png");
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var watcher = Task.Run(async () =>
        {
            for (var i = 0; i < 1200 && !File.Exists(preview); i++)
            {
                await Task.Delay(100, cancel.Token);
            }

            await cancel.CancelAsync();
        }, TestContext.Current.CancellationToken);
        var (code, _, error) = RunWith(["generate", "--demo", "-o", gif, "--steps", "40", "--preview", "1", "--cache-dir", Cache, "--device", "cpu"], new StringWriter(), cancel.Token);
        Assert.Equal(ExitCodes.Failed, code);
        Assert.Contains("cancelled; no video was written", error, StringComparison.Ordinal);
        Assert.False(File.Exists(preview));
        Assert.False(File.Exists(gif));
        _ = watcher.ContinueWith(_ => { }, TaskScheduler.Default);
    }

    [Fact]
    public void Help_shows_the_one_letter_forms_and_bad_preview_values_are_usage_errors()
    {
        var (code, output, _) = Run(["generate", "--help"]);
        Assert.Equal(ExitCodes.Success, code);
        foreach (var form in new[] { "-m, --model <folder>", "-i, --image <file>", "-p, --prompt <text>", "-n, --negative-prompt <text>", "-o, --out <path>", "-s, --seed <n>", "-W, --width <pixels>", "-H, --height <pixels>", "--preview <n>" })
        {
            Assert.Contains(form, output, StringComparison.Ordinal);
        }

        Assert.Equal(ExitCodes.Usage, Run(["generate", "--demo", "--preview", "0"]).Code);
        Assert.Equal(ExitCodes.Usage, Run(["generate", "--demo", "-x", "1"]).Code);
        Assert.Equal(ExitCodes.Usage, Run(["generate", "--demo", "-o", Path.Combine(_dir, "x.png")]).Code);
    }

    [Fact]
    public void Every_command_with_a_model_takes_m_for_it()
    {
        Assert.All(CliApp.Commands.Where(c => c.Options.Any(o => o.Name == "model")), c => Assert.Equal('m', c.Options.Single(o => o.Name == "model").Letter));
        var (code, output, error) = Run(["inspect", "-m", Fixtures.PipelineTiny]);
        Assert.True(code == ExitCodes.Success, error);
        Assert.Contains("unet", output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Every_usage_line_names_only_its_own_options_with_their_own_values()
    {
        foreach (var spec in CliApp.Commands)
        {
            foreach (Match m in UsageOption().Matches(spec.Usage))
            {
                var name = m.Groups[1].Value;
                var option = spec.Options.FirstOrDefault(o => o.Name == name);
                Assert.True(option is not null, $"'{spec.Name}' usage names --{name}, which is not one of its options");
                var value = m.Groups[2].Value;
                if (value.Contains('|', StringComparison.Ordinal))
                {
                    Assert.True(value == option.ValueName, $"'{spec.Name}' usage says --{name} {value}; its option says {option.ValueName}");
                }
            }
        }
    }

    [GeneratedRegex(@"--([a-z][a-z0-9-]*)(?:[ =]([^\s\]\[]+))?")]
    private static partial Regex UsageOption();
}
