using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Pipeline.Output;

namespace CudaI2V.Cli.Commands;

/// <summary>
/// <c>generate --preview N</c>: every N denoising steps, the latent preview of every frame (<see cref="LatentPreview"/>,
/// a fixed linear map of the latents to RGB at 1/8 of the video's size) laid out as one grid image, written to
/// <c>&lt;output stem&gt;.preview.png</c> beside the output (<c>d.gif</c>: <c>d.preview.png</c>; a frames folder
/// <c>d/</c>: <c>d.preview.png</c> beside it), under a temporary name and renamed, so an image viewer that reloads it
/// never reads half a file. It stays after a finished video (the last preview); a cancelled or failed one removes it.
/// </summary>
internal sealed class PreviewFile(string output, int every) : IGenerationPreview
{
    /// <summary>The preview file of <paramref name="output"/>.</summary>
    public static string PathFor(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var full = Path.GetFullPath(output).TrimEnd(Path.DirectorySeparatorChar, '/');
        return VideoWriter.FormatOf(output) == VideoFormat.PngFrames ? full + ".preview.png" : Path.ChangeExtension(full, ".preview.png");
    }

    /// <summary>Where the previews go.</summary>
    public string File { get; } = PathFor(output);

    /// <summary>Previews written so far.</summary>
    public int Written { get; private set; }

    /// <inheritdoc/>
    public int PreviewEvery => every;

    /// <inheritdoc/>
    public void Denoised(int stepsDone, int totalSteps, IReadOnlyList<RgbImage> frames)
    {
        var folder = Path.GetDirectoryName(File);
        if (folder is not null)
        {
            Directory.CreateDirectory(folder);
        }

        VideoWriter.WritePng(File, LatentPreview.Grid(frames));
        Written++;
    }

    /// <inheritdoc/>
    public void FramesDecoded(int first, IReadOnlyList<RgbImage> frames)
    {
        // The CLI writes the video once it is complete; the decoded frames need no preview of their own.
    }

    /// <summary>Removes the preview (the video was not written).</summary>
    public void Delete()
    {
        if (System.IO.File.Exists(File))
        {
            System.IO.File.Delete(File);
        }
    }
}
