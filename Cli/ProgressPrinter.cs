using System.Globalization;
using CudaI2V.Pipeline.Engine;

namespace CudaI2V.Cli;

/// <summary>
/// Prints a generation's progress on stderr. On a terminal, one line per stage redrawn in place (<c>\r</c>); elsewhere
/// (a file, a pipe, a CI log) plain lines: one when a stage begins, one per finished step, and inside a long step one
/// every <see cref="PlainInterval"/>. The rate and the time left appear once a step has finished, never before;
/// durations are h:mm:ss.
/// </summary>
public sealed class ProgressPrinter(TextWriter output, bool terminal) : IProgress<GenerationProgress>
{
    /// <summary>The shortest time between two plain lines inside one step.</summary>
    public static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(10);

    private const int BarWidth = 30;
    private GenerationStage? _current;
    private TimeSpan _stageStart;
    private TimeSpan _lastLine;
    private bool _open;
    private int _width;

    /// <summary>A printer for <see cref="Console.Error"/>: in place when stderr is a terminal, plain lines otherwise.</summary>
    public static ProgressPrinter ForStandardError(TextWriter error) => new(error, !Console.IsErrorRedirected && ReferenceEquals(error, Console.Error));

    /// <inheritdoc/>
    public void Report(GenerationProgress value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var newStage = value.Stage != _current;
        if (newStage)
        {
            Finish();
            _current = value.Stage;
            _stageStart = value.Elapsed;
        }

        var line = Describe(value, value.Elapsed - _stageStart);
        if (terminal)
        {
            output.Write("\r" + line.PadRight(_width));
            _width = line.Length;
            _open = true;
            return;
        }

        var partial = value.StepOpsTotal > 0;
        if (partial && !newStage && value.Elapsed - _lastLine < PlainInterval)
        {
            return;
        }

        _lastLine = value.Elapsed;
        output.WriteLine(line);
    }

    /// <summary>Ends the line in progress (on a terminal); call when the generation ends, however it ends.</summary>
    public void Finish()
    {
        if (_open)
        {
            output.WriteLine();
            _open = false;
            _width = 0;
        }
    }

    /// <summary>One progress line: stage, bar, steps (and the share of the step in progress), rate and time left once known.</summary>
    public static string Describe(GenerationProgress value, TimeSpan inStage)
    {
        ArgumentNullException.ThrowIfNull(value);
        var position = value.Position;
        var filled = value.TotalSteps > 0 ? (int)(position * BarWidth / value.TotalSteps) : 0;
        filled = Math.Clamp(filled, 0, BarWidth);
        var line = string.Create(
            CultureInfo.InvariantCulture,
            $"{StageName(value.Stage),-16} [{new string('#', filled)}{new string('.', BarWidth - filled)}] {value.Step}/{value.TotalSteps}");
        if (value.StepOpsTotal > 0)
        {
            line += string.Create(CultureInfo.InvariantCulture, $" (step {value.Step + 1}: {100.0 * value.StepOps / value.StepOpsTotal:F0}% of its ops)");
        }

        line += " elapsed " + RunEstimate.Format(inStage);
        if (value.Step > 0 && value.Step < value.TotalSteps)
        {
            var perStep = inStage.TotalSeconds / position;
            var rate = perStep >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{perStep:F1} s/step") : string.Create(CultureInfo.InvariantCulture, $"{1 / perStep:F2} steps/s");
            line += $", {rate}, about {RunEstimate.Format(TimeSpan.FromSeconds(perStep * (value.TotalSteps - position)))} left";
        }

        return line;
    }

    private static string StageName(GenerationStage stage) => stage switch
    {
        GenerationStage.EncodingPrompt => "prompt",
        GenerationStage.EncodingImage => "image",
        GenerationStage.Denoising => "denoising",
        GenerationStage.Decoding => "decoding",
        _ => stage.ToString(),
    };
}
