using System.Globalization;
using System.Text;
using System.Text.Json;
using CudaI2V.Pipeline.Output;
using CudaI2V.Server.Jobs;
using Microsoft.AspNetCore.Http;

namespace CudaI2V.Server.Api;

/// <summary>
/// The job resources: <c>GET /v1/jobs</c> (a page, newest first), <c>GET /v1/jobs/{id}</c>, its live
/// <c>/events</c> (server-sent events), <c>POST /cancel</c>, the <c>/video</c> download and each decoded <c>/frames/{i}</c>.
/// </summary>
internal sealed class JobEndpoints(ServerState state)
{
    /// <summary>Seconds between keep-alive comments on a quiet event stream.</summary>
    public static TimeSpan KeepAlive { get; set; } = TimeSpan.FromSeconds(15);

    public Task List(HttpContext context)
    {
        var offset = Query(context, "offset", 0, 0, int.MaxValue);
        var limit = Query(context, "limit", 20, 1, 100);
        return Responses.Json(context, state.Jobs.List(offset, limit), ServerJson.Default.JobPage);
    }

    public Task Get(HttpContext context) => Responses.Json(context, Find(context), ServerJson.Default.Job);

    public async Task Cancel(HttpContext context)
    {
        var job = Find(context);
        var outcome = state.Jobs.Cancel(job.Id);
        if (outcome == CancelOutcome.AlreadyFinal)
        {
            throw new ApiProblemException(StatusCodes.Status409Conflict, "Job already ended", $"Job {job.Id} has already {job.State.ToString().ToLowerInvariant()}; there is nothing to cancel.");
        }

        // A queued job is canceled now (200); a running one stops at the engine's next check (202: watch its state).
        await Responses.Json(context, state.Jobs.Find(job.Id)!, ServerJson.Default.Job, outcome == CancelOutcome.Canceled ? StatusCodes.Status200OK : StatusCodes.Status202Accepted).ConfigureAwait(false);
    }

    public async Task Video(HttpContext context)
    {
        var job = Find(context);
        string? format = context.Request.Query["format"];
        if (format is not null && !VideoFiles.Formats.Contains(format))
        {
            throw ApiProblemException.Invalid("format", $"format must be one of {string.Join(", ", VideoFiles.Formats)}, got '{format}'.");
        }

        if (job.State != JobState.Succeeded)
        {
            throw new ApiProblemException(
                job.IsFinal ? StatusCodes.Status410Gone : StatusCodes.Status409Conflict, "No video",
                job.IsFinal ? $"Job {job.Id} {job.State.ToString().ToLowerInvariant()}; it has no video." : $"Job {job.Id} is {job.State.ToString().ToLowerInvariant()}; its video is ready when its state is succeeded.");
        }

        format ??= job.Formats[0];
        if (!job.Formats.Contains(format))
        {
            throw new ApiProblemException(
                StatusCodes.Status404NotFound, "Format not available",
                $"Job {job.Id} has no {format} video (an MP4 needs ffmpeg on the server's PATH when the job ran); it has: {string.Join(", ", job.Formats)}.", "format");
        }

        var path = VideoFiles.PathOf(state.Jobs.Store, job, format);
        var extension = format == "png-zip" ? "zip" : format;
        var result = Results.File(path, VideoFiles.ContentType(format), $"{job.Id}.{extension}", enableRangeProcessing: true);
        await result.ExecuteAsync(context).ConfigureAwait(false);
    }

    /// <summary>
    /// One frame of the job's video as a PNG, from 0, once the VAE has decoded it (the record's <c>framesReady</c> counts
    /// them), while the job runs and after it succeeded: 400 for an index that is not one of the job's frames, 404 for
    /// one not decoded yet (or a job that ended without a video).
    /// </summary>
    public async Task Frame(HttpContext context)
    {
        var job = Find(context);
        var text = context.Request.RouteValues["index"] as string;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var index) || index >= job.Settings.Frames)
        {
            throw ApiProblemException.Invalid("index", $"The frame index must be an integer from 0 to {job.Settings.Frames - 1} (the job has {job.Settings.Frames} frames), got '{text}'.");
        }

        var notReady = new ApiProblemException(
            StatusCodes.Status404NotFound, "Frame not ready",
            job.State is JobState.Failed or JobState.Canceled
                ? $"Job {job.Id} {job.State.ToString().ToLowerInvariant()}; it has no frames."
                : $"Frame {index} of job {job.Id} is not decoded yet ({job.FramesReady} of {job.Settings.Frames} are); its events say when framesReady grows.",
            "index");
        if (index >= job.FramesReady)
        {
            throw notReady;
        }

        FileStream png;
        try
        {
            png = File.OpenRead(Path.Combine(state.Jobs.Store.OutputFolder(job.Id), "frames", VideoWriter.FrameName(index)));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw notReady; // canceled (its outputs removed) since the record was read
        }

        await Results.Stream(png, "image/png").ExecuteAsync(context).ConfigureAwait(false);
    }

    /// <summary>
    /// The latest latent preview of the running job (every frame's latents mapped to RGB, as one grid; see
    /// <c>LatentPreview</c>) as a PNG, and the last one after it succeeded: 404 before its first denoising step ends.
    /// </summary>
    public async Task Preview(HttpContext context)
    {
        var job = Find(context);
        var none = new ApiProblemException(StatusCodes.Status404NotFound, "No preview yet", $"Job {job.Id} has no preview: it is {job.State.ToString().ToLowerInvariant()} and {job.PreviewStep} of its steps are done; its events say when previewStep grows.");
        if (job.PreviewStep == 0)
        {
            throw none;
        }

        FileStream png;
        try
        {
            png = File.OpenRead(Path.Combine(state.Jobs.Store.OutputFolder(job.Id), "preview.png"));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw none;
        }

        context.Response.Headers.CacheControl = "no-store";
        await Results.Stream(png, "image/png").ExecuteAsync(context).ConfigureAwait(false);
    }

    /// <summary>
    /// The job as server-sent events: an event <c>job</c> with the whole record now and at every change, in order,
    /// until the job ends (the last event has its final state); a comment every <see cref="KeepAlive"/> meanwhile.
    /// Changes faster than the client reads are merged: each event is the latest record.
    /// </summary>
    public async Task Events(HttpContext context)
    {
        var id = Find(context).Id;
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        var cancel = context.RequestAborted;
        var sequence = 0;
        try
        {
            while (true)
            {
                var (job, changed) = state.Jobs.Watch(id);
                var json = JsonSerializer.Serialize(job!, ServerJson.Default.Job);
                await response.WriteAsync(string.Create(CultureInfo.InvariantCulture, $"id: {sequence++}\nevent: job\ndata: {json}\n\n"), Encoding.UTF8, cancel).ConfigureAwait(false);
                await response.Body.FlushAsync(cancel).ConfigureAwait(false);
                if (job!.IsFinal)
                {
                    return;
                }

                while (await Task.WhenAny(changed, Task.Delay(KeepAlive, cancel)).ConfigureAwait(false) != changed)
                {
                    cancel.ThrowIfCancellationRequested();
                    await response.WriteAsync(": keep-alive\n\n", cancel).ConfigureAwait(false);
                    await response.Body.FlushAsync(cancel).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            // The client went away.
        }
    }

    private Job Find(HttpContext context)
    {
        var id = context.Request.RouteValues["id"] as string;
        var job = JobStore.IsId(id) ? state.Jobs.Find(id!) : null;
        return job ?? throw new ApiProblemException(StatusCodes.Status404NotFound, "No such job", $"There is no job '{id}' on this server; GET /v1/jobs lists them.", "id");
    }

    private static int Query(HttpContext context, string name, int fallback, int min, int max)
    {
        string? text = context.Request.Query[name];
        if (text is null)
        {
            return fallback;
        }

        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw ApiProblemException.Invalid(name, $"{name} must be an integer from {min} to {max}, got '{text}'.");
    }
}
