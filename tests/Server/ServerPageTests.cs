using CudaI2V.Server;
using CudaI2V.Tests.Support;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace CudaI2V.Tests.Server;

/// <summary>
/// The page of <c>cudai2v serve</c> in a real headless browser: Debian's chromium and chromedriver (.ci/run installs
/// them), driven by Selenium. It submits a job through the form, sees the progress and the frames as they are decoded,
/// and sees the video play; a
/// screenshot of the page is saved beside the test assembly (artifacts/serve-page.png). Skips, saying which, when the
/// browser or its driver is missing.
/// </summary>
public sealed class ServerPageTests
{
    private static readonly string[] Browsers = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

    [Fact]
    public async Task The_page_submits_a_job_shows_its_progress_and_plays_the_video()
    {
        var browser = Browsers.FirstOrDefault(File.Exists);
        var driverPath = FindOnPath("chromedriver");
        Assert.SkipWhen(browser is null, $"no Chromium found ({string.Join(", ", Browsers)}); on Debian: apt-get install chromium chromium-driver");
        Assert.SkipWhen(driverPath is null, "no chromedriver on the PATH; on Debian: apt-get install chromium-driver");

        await using var server = await TestServer.StartAsync(change: s => s with
        {
            Defaults = new JobDefaults { Frames = 2, Steps = 2, Height = 16, Width = 24, Guidance = 1.0 },
        });
        var options = new ChromeOptions { BinaryLocation = browser };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1000,1000", "--autoplay-policy=no-user-gesture-required");
        using var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(driverPath)!, Path.GetFileName(driverPath)!);
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        using var driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(30));
        driver.Manage().Timeouts().PageLoad = TimeSpan.FromSeconds(15);
        try
        {
            driver.Navigate().GoToUrl(server.BaseAddress + "/");
            var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(10));
            wait.Until(d => d.FindElement(By.Id("ready")).Text.StartsWith("ready", StringComparison.Ordinal));

            // Records the order in which elements appear on the page: the frames must come before the video.
            driver.ExecuteScript(
                "window.added = []; new MutationObserver((ms) => { for (const m of ms) for (const n of m.addedNodes) if (n.nodeType === 1) window.added.push(n.id || n.className); })"
                + ".observe(document.body, { childList: true, subtree: true });");
            driver.FindElement(By.Id("image")).SendKeys(Fixtures.Path("pipeline-tiny", "input.png"));
            driver.FindElement(By.Id("prompt")).SendKeys("a cat in the garden");
            driver.FindElement(By.CssSelector("#preset option[value='']")).Click(); // the server's small defaults; the presets are the engine's
            Assert.Equal(["release", "fast", "draft"], driver.FindElements(By.CssSelector("#preset option")).Select(o => o.GetAttribute("value")).Where(v => v!.Length > 0));
            driver.FindElement(By.Id("go")).Click();

            // Progress: the job's section shows its state and a progress bar as the events arrive.
            new WebDriverWait(driver, TimeSpan.FromSeconds(20)).Until(d => d.FindElement(By.Id("state")).Text is "running" or "succeeded");
            var done = new WebDriverWait(driver, TimeSpan.FromSeconds(45));
            done.Until(d => d.FindElement(By.Id("state")).Text is "succeeded" or "failed" or "canceled");
            Assert.Equal("succeeded", driver.FindElement(By.Id("state")).Text);
            var bar = driver.FindElement(By.Id("bar"));
            Assert.Equal(bar.GetAttribute("max"), bar.GetAttribute("value"));

            var video = done.Until(d => d.FindElement(By.Id("video")));

            // The frames arrived as they were decoded, each shown as an image before the video element came.
            done.Until(_ => Script<long>(driver, "return [...document.getElementById('frames').querySelectorAll('img.frame')].filter(i => i.complete && i.naturalWidth === 24).length;") == 2);
            var added = Script<IReadOnlyCollection<object>>(driver, "return window.added;").Select(o => o?.ToString()).ToList();
            Assert.True(added.IndexOf("frame") >= 0 && added.IndexOf("frame") < added.IndexOf("video"), "elements added: " + string.Join(", ", added));
            if (video.TagName == "video")
            {
                // Playing: decoded frames, and the playhead moves.
                done.Until(_ => Script<bool>(driver, "const v = document.getElementById('video'); return v.readyState >= 2 && v.currentTime > 0 && !v.paused;"));
                Assert.Equal(24L, Script<long>(driver, "return document.getElementById('video').videoWidth;"));
            }
            else
            {
                // Without ffmpeg on the server the video is a GIF, which an <img> plays.
                done.Until(_ => Script<bool>(driver, "const v = document.getElementById('video'); return v.complete && v.naturalWidth > 0;"));
                Assert.Equal(24L, Script<long>(driver, "return document.getElementById('video').naturalWidth;"));
            }

            Assert.Contains("succeeded", driver.FindElement(By.Id("jobs")).Text, StringComparison.Ordinal);
        }
        finally
        {
            var folder = Path.Combine(AppContext.BaseDirectory, "artifacts");
            Directory.CreateDirectory(folder);
            var path = Path.Combine(folder, "serve-page.png");
            driver.GetScreenshot().SaveAsFile(path);
            TestContext.Current.SendDiagnosticMessage($"screenshot of the page: {path}");
        }
    }

    private static T Script<T>(ChromeDriver driver, string script) => driver.ExecuteScript(script) is T value ? value : default!;

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}
