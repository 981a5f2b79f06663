using Microsoft.Extensions.Logging;

namespace CudaI2V.Pipeline.Engine;

/// <summary>
/// Where the engine's one-line notes go: the <see cref="EngineLoadOptions.Log"/> callback and the
/// <see cref="EngineLoadOptions.Logger"/>, at Warning for what a user should act on (no GPU, a run of many minutes
/// ahead) and Information for the rest.
/// </summary>
internal static class EngineLog
{
    private static readonly Action<ILogger, string, Exception?> Note =
        LoggerMessage.Define<string>(LogLevel.Information, new EventId(1, "Note"), "{Note}");

    private static readonly Action<ILogger, string, Exception?> Warning =
        LoggerMessage.Define<string>(LogLevel.Warning, new EventId(2, "Warning"), "{Note}");

    /// <summary>One callback writing to both (null when neither is set).</summary>
    public static Action<string>? Combine(Action<string>? log, ILogger? logger) => logger is null ? log : line =>
    {
        log?.Invoke(line);
        (IsWarning(line) ? Warning : Note)(logger, line, null);
    };

    /// <summary>Notes a user should act on.</summary>
    public static bool IsWarning(string line) =>
        line.StartsWith("no usable GPU", StringComparison.Ordinal) || line.StartsWith("this request is estimated", StringComparison.Ordinal);
}
