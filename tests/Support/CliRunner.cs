using CudaI2V.Cli;

namespace CudaI2V.Tests.Support;

/// <summary>Runs the <c>cudai2v</c> tool in-process, as a user would from a shell, and captures its streams.</summary>
public static class CliRunner
{
    /// <summary>Runs <paramref name="args"/>; returns the exit code, stdout and stderr.</summary>
    public static (int Code, string Out, string Err) Run(params string[] args) =>
        RunWith(args, new StringWriter(), TestContext.Current.CancellationToken);

    /// <summary>Runs <paramref name="args"/> writing messages to <paramref name="stderr"/>; <paramref name="cancellation"/> acts as Ctrl+C.</summary>
    public static (int Code, string Out, string Err) RunWith(IReadOnlyList<string> args, TextWriter stderr, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(stderr);
        using var stdout = new StringWriter();
        var code = CliApp.Run(args, stdout, stderr, cancellation);
        return (code, stdout.ToString(), stderr.ToString() ?? "");
    }
}
