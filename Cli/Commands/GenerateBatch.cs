using System.Diagnostics;
using System.Globalization;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Pipeline.Output;
using CudaI2V.Runtime.Caching;

namespace CudaI2V.Cli.Commands;

/// <summary>
/// Runs the videos of one <c>generate</c> on one loaded engine, in order: each generated, written (under a temporary
/// name, then renamed), its settings written beside it, its path printed on stdout. A cancelled or failed video leaves
/// no file; the videos before it stay.
/// </summary>
/// <param name="engine">The loaded engine every video runs on.</param>
/// <param name="model">The model folder and its weights' hash, for the metadata files.</param>
/// <param name="loadTime">How long the engine took to load.</param>
/// <param name="context">The tool's streams.</param>
/// <param name="previewEvery">Steps between two latent previews beside each output (<see cref="PreviewFile"/>); 0 for none.</param>
internal sealed class GenerateBatch(VideoEngine engine, RunModel model, TimeSpan loadTime, CliContext context, int previewEvery = 0)
{
    /// <summary>Makes every video of <paramref name="jobs"/>; returns the exit code.</summary>
    public int Run(IReadOnlyList<GenerationJob> jobs, IReadOnlyDictionary<string, RgbImage> images, CacheRoot cache, CancellationToken cancellation)
    {
        var written = 0;
        for (var k = 0; k < jobs.Count; k++)
        {
            var job = jobs[k];
            if (jobs.Count > 1)
            {
                context.Error.WriteLine(string.Create(
                    CultureInfo.InvariantCulture, $"cudai2v generate: video {k + 1} of {jobs.Count}: {job.Out}, seed {(job.Options.Seed is { } s ? s.ToString(CultureInfo.InvariantCulture) : "random")}, \"{job.Options.Prompt}\""));
            }

            try
            {
                RunOne(job, images[job.ImagePath ?? ""], cache, k == 0, cancellation);
                written++;
            }
            catch (NonFiniteValuesException e)
            {
                context.Error.WriteLine($"cudai2v generate: {e.Message}");
                return ExitCodes.Failed;
            }
            catch (OperationCanceledException)
            {
                context.Error.WriteLine(jobs.Count == 1
                    ? "cudai2v generate: cancelled; no video was written."
                    : $"cudai2v generate: cancelled; video {k + 1} of {jobs.Count} was not written ({written} written before it).");
                return ExitCodes.Failed;
            }
        }

        return ExitCodes.Success;
    }

    private void RunOne(GenerationJob job, RgbImage image, CacheRoot cache, bool first, CancellationToken cancellation)
    {
        var options = job.Options;
        var preview = previewEvery > 0 ? new PreviewFile(job.Out, previewEvery) : null;
        if (preview is not null)
        {
            context.Error.WriteLine($"cudai2v generate: a preview every {previewEvery} steps in {preview.File}");
        }

        var bar = ProgressPrinter.ForStandardError(context.Error);
        GenerationResult result;
        try
        {
            result = engine.Generate(image, options with { Preview = preview }, bar, cancellation: cancellation);
        }
        catch
        {
            preview?.Delete();
            throw;
        }
        finally
        {
            bar.Finish();
        }

        var compilers = engine.Backends.Select(b => b.Compiler).Where(c => c is not null).Select(c => c!).ToList();
        if (first && compilers.Count > 0)
        {
            context.Error.WriteLine(
                $"cudai2v generate: kernels: {compilers.Sum(c => c.Compilations)} compiled by NVRTC, {compilers.Sum(c => c.DiskHits)} read from the cache under {cache.Path}.");
        }

        var write = Stopwatch.StartNew();
        var format = new VideoWriter().Write(job.Out, result.Frames, options.Fps, cancellation);
        var writing = write.Elapsed;
        var imagePath = job.ImagePath is null ? null : Path.GetFullPath(job.ImagePath);
        var output = Path.GetFullPath(job.Out);
        var metadata = RunMetadata.Write(new RunRecord(options with { Seed = result.Seed }, imagePath, output, format, loadTime, result.StageTimes, writing)
        {
            FullSteps = result.FullSteps,
            DenoisingSteps = result.DenoisingSteps,
            RefineSteps = result.RefineSteps,
            Memory = result.Memory,
        }, model);
        context.Out.WriteLine(output);
        var stages = result.StageTimes;
        context.Error.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"cudai2v generate: {result.Frames.Count} frames of {options.Width}x{options.Height}, seed {result.Seed}, written as {Describe(format)}; settings in {metadata}. "
            + $"Load {Seconds(loadTime)}, prompt {Seconds(stages[GenerationStage.EncodingPrompt])}, image {Seconds(stages[GenerationStage.EncodingImage])}, "
            + $"denoising {Seconds(stages[GenerationStage.Denoising])}, decoding {Seconds(stages[GenerationStage.Decoding])}, writing {Seconds(writing)}."));
    }

    private static string Describe(VideoFormat format) => format switch
    {
        VideoFormat.Gif => "a GIF",
        VideoFormat.Mp4 => "an MP4",
        _ => "PNG frames",
    };

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture) + " s";
}
