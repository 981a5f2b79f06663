using System.Diagnostics;

namespace CudaI2V.Pipeline.Engine;

/// <summary>
/// Stage times and progress of one request: each stage reports 0 of its total when it begins and its steps as they
/// finish; while a step runs on a backend that counts its ops (<see cref="Kernels.OpWatch"/>), how many of the step's
/// planned ops have started, at most every <see cref="SubStepInterval"/>. Every report is made on the generating
/// thread, in order.
/// </summary>
internal sealed class StageClock(IProgress<GenerationProgress>? progress, CancellationToken cancellation)
{
    /// <summary>The shortest time between two reports inside a step.</summary>
    public static readonly TimeSpan SubStepInterval = TimeSpan.FromMilliseconds(250);

    private readonly Stopwatch _total = Stopwatch.StartNew();
    private readonly Stopwatch _stage = new();
    private readonly Dictionary<GenerationStage, TimeSpan> _times = [];
    private GenerationStage _current;
    private int _steps;
    private int _step;
    private int _opsPerStep;
    private int _opsInStep;
    private TimeSpan _lastReport;

    public IReadOnlyDictionary<GenerationStage, TimeSpan> Times => _times;

    public void Enter(GenerationStage stage, int steps)
    {
        cancellation.ThrowIfCancellationRequested();
        _current = stage;
        _steps = steps;
        _opsPerStep = 0;
        _stage.Restart();
        Report(0);
    }

    /// <summary>From now on, each step of the current stage runs about <paramref name="opsPerStep"/> ops (its plan's).</summary>
    public void CountOps(int opsPerStep)
    {
        _opsPerStep = opsPerStep;
        _opsInStep = 0;
    }

    /// <summary>Reports <paramref name="step"/> steps of the stage finished; <paramref name="full"/> says whether a denoising step just finished ran the whole UNet.</summary>
    public void Report(int step, bool? full = null)
    {
        _step = step;
        _opsInStep = 0;
        _lastReport = _total.Elapsed;
        progress?.Report(new GenerationProgress(_current, step, _steps, _lastReport) { FullStep = full });
    }

    /// <summary>An op started (called by the backend's watch): reports the step's progress when the last report is old enough.</summary>
    public void OpStarted()
    {
        if (_opsPerStep == 0 || progress is null)
        {
            return;
        }

        _opsInStep++;
        var now = _total.Elapsed;
        if (now - _lastReport >= SubStepInterval)
        {
            _lastReport = now;

            // A step also runs a few ops outside its planned forward (the sampler update, the checks), so the count is capped.
            progress.Report(new GenerationProgress(_current, _step, _steps, now, Math.Min(_opsInStep, _opsPerStep - 1), _opsPerStep));
        }
    }

    public void Leave(bool reportDone)
    {
        _times[_current] = _stage.Elapsed;
        _opsPerStep = 0;
        if (reportDone)
        {
            Report(_steps);
        }
    }
}
