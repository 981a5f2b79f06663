using CudaI2V.Cli;
using CudaI2V.Pipeline.Output;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Cli;

/// <summary><c>--out</c> is checked before any model loads: a path that cannot be written is a usage error, and nothing is created.</summary>
public sealed class OutputPathTests
{
    private readonly string _dir = Fixtures.TempFolder("output-path");

    public static TheoryData<string, string> UnusablePaths() => new()
    {
        { "", "empty" },
        { "   ", "empty" },
        { "/", "filesystem root" },
        { "/..", "filesystem root" },
        { "video.avi", ".gif or .mp4" },
    };

    [Theory]
    [MemberData(nameof(UnusablePaths))]
    public void An_unusable_out_is_a_usage_error_before_the_model_is_read(string path, string expected)
    {
        // The model folder does not exist: exit 2 (not 3) shows the output was checked first.
        var (code, _, error) = Run("generate", "--model", Path.Combine(_dir, "no-model"), "--image", "x.png", "--prompt", "a cat", "--out", path);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.Single(error.TrimEnd().Split('\n'));
    }

    [Fact]
    public void A_folder_where_a_file_is_asked_and_a_file_where_frames_are_asked_are_refused()
    {
        var folder = Directory.CreateDirectory(Path.Combine(_dir, "taken.gif")).FullName;
        Assert.Contains("a folder of that name exists", Assert.Throws<OutputPathException>(() => OutputPath.Check(folder)).Message, StringComparison.Ordinal);
        var file = Path.Combine(_dir, "frames");
        File.WriteAllText(file, "x");
        Assert.Contains("it is a file", Assert.Throws<OutputPathException>(() => OutputPath.Check(file + "/")).Message, StringComparison.Ordinal);
        Assert.Contains("is a file, not a folder", Assert.Throws<OutputPathException>(() => OutputPath.Check(Path.Combine(file, "v.gif"))).Message, StringComparison.Ordinal);
        Assert.Equal(VideoFormat.Gif, OutputPath.Check(Path.Combine(_dir, "new", "deeper", "v.gif")));
        Assert.Equal(VideoFormat.Mp4, OutputPath.Check(Path.Combine(_dir, "v.mp4"), ffmpegPath: "/usr/bin/true"));
    }

    [Fact]
    public void Nothing_is_created_when_the_run_is_refused()
    {
        var refused = Path.Combine(_dir, "a", "b", "video.avi");
        Assert.Equal(ExitCodes.Usage, Run("generate", "--model", _dir, "--image", "x.png", "--prompt", "p", "--out", refused).Code);
        var later = Path.Combine(_dir, "c", "d", "video.gif");
        Assert.Equal(ExitCodes.BadInput, Run("generate", "--model", Path.Combine(_dir, "no-model"), "--image", Path.Combine(_dir, "no.png"), "--prompt", "p", "--out", later).Code);
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }
}
