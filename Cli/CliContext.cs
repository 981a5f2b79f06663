namespace CudaI2V.Cli;

/// <summary>Where a command writes (results to <see cref="Out"/>, messages to <see cref="Error"/>) and what cancels it.</summary>
public sealed record CliContext(TextWriter Out, TextWriter Error, CancellationToken Cancellation = default);
