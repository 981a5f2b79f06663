using System.Diagnostics;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Pipeline.Output;

namespace CudaI2V.Server.Jobs;

/// <summary>
/// The one worker of an engine: takes the queued jobs in order and runs each on the engine, reporting progress into
/// the job's record, then writes its video (PNG frames, a GIF, and an MP4 where ffmpeg exists) under the job's
/// output folder. A client's cancel stops the engine between steps and leaves no output; a server shutdown puts the
/// running job back at the head of the queue, so it runs after the restart.
/// </summary>
public sealed class JobWorker
{
    private readonly IJobBroker _jobs;
    private readonly Task<VideoEngine> _engine;
    private readonly ServerMetrics _metrics;
    private readonly Action<string>? _log;

    /// <summary>Creates the worker; it starts with <see cref="Run"/>, once <paramref name="engine"/> is loaded.</summary>
    public JobWorker(IJobBroker jobs, Task<VideoEngine> engine, ServerMetrics metrics, Action<string>? log)
    {
        _jobs = jobs ?? throw new ArgumentNullException(nameof(jobs));
        _engine = engine ?? throw new ArgumentNullException(nameof(engine));
        _metrics = metrics ?? throw new ArgumentNullException(nameof(metrics));
        _log = log;
    }

    /// <summary>Runs jobs until <paramref name="stop"/>; on a thread of its own, since the engine's calls block.</summary>
    public Task Run(CancellationToken stop) => Task.Factory.StartNew(() => Loop(stop), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Loop(CancellationToken stop)
    {
        VideoEngine engine;
        try
        {
            _engine.Wait(stop);
            engine = _engine.Result;
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (AggregateException e)
        {
            _log?.Invoke($"the engine did not load; no job will run: {e.InnerException?.Message}");
            return;
        }

        while (!stop.IsCancellationRequested)
        {
            IJobLease lease;
            try
            {
                lease = _jobs.TakeAsync(stop).GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                return;
            }

            using (lease)
            {
                RunOne(engine, lease, stop);
            }
        }
    }

    private void RunOne(VideoEngine engine, IJobLease lease, CancellationToken stop)
    {
        var (job, cancel) = (lease.Job, lease.Canceled);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancel, lease.Abandoned, stop);
        var clock = Stopwatch.StartNew();
        var progress = new ProgressRecorder(lease, clock, _metrics);
        try
        {
            var image = ImageLoader.Load(_jobs.Store.InputPath(job.Id));
            var s = job.Settings;
            var options = new GenerationOptions
            {
                Prompt = s.Prompt,
                NegativePrompt = s.NegativePrompt,
                Frames = s.Frames,
                Steps = s.Steps,
                Guidance = s.Guidance,
                Fps = s.Fps,
                Height = s.Height,
                Width = s.Width,
                Seed = s.Seed,
                DecodeChunk = s.DecodeChunk,
                Eta = s.Eta,
                Sampler = s.Sampler,
                Preview = new FrameWriter(lease, _jobs.Store),
                CacheInterval = s.CacheInterval,
                CacheDepth = s.CacheDepth,
            };
            lease.Update(j => j with { FramesReady = 0, PreviewStep = 0 });
            var result = engine.Generate(image, options, progress, cancellation: either.Token);
            progress.Report("writing", 0, 1);
            var formats = WriteOutputs(job.Id, result.Frames, s.Fps, either.Token);
            var memory = result.Memory is { } plan ? JobMemory.Of(plan) : null;
            lease.Finish(j => j with { State = JobState.Succeeded, FinishedAt = DateTimeOffset.UtcNow, Formats = formats, Progress = progress.Finished(), Memory = memory });
            _metrics.Finished(JobState.Succeeded);
        }
        catch (OperationCanceledException) when (lease.Abandoned.IsCancellationRequested)
        {
            // The job is another worker's now (or this one is being killed): write nothing, acknowledge nothing.
            _log?.Invoke($"job {job.Id} abandoned: it is no longer this worker's.");
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested && !cancel.IsCancellationRequested)
        {
            _jobs.Store.DeleteOutputs(job.Id);
            lease.Requeue();
        }
        catch (OperationCanceledException)
        {
            _jobs.Store.DeleteOutputs(job.Id);
            lease.Finish(j => j with { State = JobState.Canceled, FinishedAt = DateTimeOffset.UtcNow, FramesReady = 0, PreviewStep = 0 });
            _metrics.Finished(JobState.Canceled);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Whatever the engine or the writer threw ends this job, not the server: the next job may well succeed.
            _log?.Invoke($"job {job.Id} failed: {e.Message}");
            _jobs.Store.DeleteOutputs(job.Id);
            lease.Finish(j => j with { State = JobState.Failed, FinishedAt = DateTimeOffset.UtcNow, Error = e.Message, FramesReady = 0, PreviewStep = 0 });
            _metrics.Finished(JobState.Failed);
        }
    }

    private List<string> WriteOutputs(string id, IReadOnlyList<RgbImage> frames, int fps, CancellationToken cancel)
    {
        var folder = _jobs.Store.OutputFolder(id);
        var writer = new VideoWriter();

        // The frames folder was written frame by frame as the VAE decoded them (FrameWriter).
        writer.Write(Path.Combine(folder, "video.gif"), frames, fps, cancel);
        var formats = new List<string>();
        if (VideoFiles.FfmpegAvailable())
        {
            try
            {
                writer.Write(Path.Combine(folder, "video.mp4"), frames, fps, cancel);
                formats.Add("mp4");
            }
            catch (VideoOutputException e)
            {
                _log?.Invoke($"job {id}: no MP4 ({e.Message}); the GIF and the frames are kept.");
            }
        }

        formats.Add("gif");
        formats.Add("png-zip");
        return formats;
    }

    /// <summary>
    /// The frames as the engine decodes them, chunk by chunk: each written to the job's <c>out/frames/</c> (under a
    /// temporary name, then renamed: a reader never sees half a PNG), then counted in the record's
    /// <see cref="Job.FramesReady"/>, so <c>/v1/jobs/{id}/frames/{i}</c> and the page show them while the job runs.
    /// Before that, after every denoising step, the latent preview grid to <c>out/preview.png</c> (<see cref="Job.PreviewStep"/>).
    /// </summary>
    private sealed class FrameWriter(IJobLease lease, JobStore store) : IGenerationPreview
    {
        public int PreviewEvery => 1;

        public void Denoised(int stepsDone, int totalSteps, IReadOnlyList<RgbImage> frames)
        {
            var folder = store.OutputFolder(lease.Job.Id);
            Directory.CreateDirectory(folder);
            VideoWriter.WritePng(Path.Combine(folder, "preview.png"), LatentPreview.Grid(frames));
            lease.Update(j => j with { PreviewStep = stepsDone });
        }

        public void FramesDecoded(int first, IReadOnlyList<RgbImage> frames)
        {
            var folder = Path.Combine(store.OutputFolder(lease.Job.Id), "frames");
            Directory.CreateDirectory(folder);
            for (var i = 0; i < frames.Count; i++)
            {
                VideoWriter.WritePng(Path.Combine(folder, VideoWriter.FrameName(first + i)), frames[i]);
            }

            var ready = first + frames.Count;
            lease.Update(j => j with { FramesReady = ready });
        }
    }

    /// <summary>The engine's progress, into the job's record (live only; the record on disk changes with the state).</summary>
    private sealed class ProgressRecorder(IJobLease lease, Stopwatch clock, ServerMetrics metrics) : IProgress<GenerationProgress>
    {
        private readonly Stopwatch _stage = new();
        private string? _current;
        private int _stepsCounted;
        private TimeSpan _lastStepEnded;
        private JobProgress? _last;

        public void Report(GenerationProgress value)
        {
            var stage = JsonNamingPolicyName(value.Stage);
            Enter(stage);

            // The CPU also reports how far a step is (same Step, growing StepOps): only a step that has ended counts.
            if (stage == "denoising" && value.Step > _stepsCounted)
            {
                var elapsed = _stage.Elapsed;
                var each = (elapsed - _lastStepEnded) / (value.Step - _stepsCounted);
                for (; _stepsCounted < value.Step; _stepsCounted++)
                {
                    metrics.Step(each);
                }

                _lastStepEnded = elapsed;
            }

            Report(stage, value.Step, value.TotalSteps);
        }

        public void Report(string stage, int step, int total)
        {
            Enter(stage);
            var elapsed = _stage.Elapsed;
            double? remaining = step > 0 ? elapsed.TotalSeconds / step * (total - step) : null;
            _last = new JobProgress { Stage = stage, Step = step, TotalSteps = total, ElapsedSeconds = clock.Elapsed.TotalSeconds, RemainingSeconds = remaining };
            lease.Report(_last);
        }

        private void Enter(string stage)
        {
            if (stage != _current)
            {
                _current = stage;
                _stage.Restart();
                (_stepsCounted, _lastStepEnded) = (0, TimeSpan.Zero);
            }
        }

        public JobProgress? Finished() => _last is null ? null : _last with { Step = _last.TotalSteps, ElapsedSeconds = clock.Elapsed.TotalSeconds, RemainingSeconds = 0 };

        private static string JsonNamingPolicyName(GenerationStage stage) => stage switch
        {
            GenerationStage.EncodingPrompt => "encodingPrompt",
            GenerationStage.EncodingImage => "encodingImage",
            GenerationStage.Denoising => "denoising",
            GenerationStage.Decoding => "decoding",
            _ => stage.ToString(),
        };
    }
}
