namespace CudaI2V.Cli;

/// <summary>The exit codes of every cudai2v command.</summary>
public static class ExitCodes
{
    /// <summary>The command did what it was asked.</summary>
    public const int Success = 0;

    /// <summary>A check ran and failed (for example <c>verify</c> beyond tolerance), or the run failed.</summary>
    public const int Failed = 1;

    /// <summary>The command line is wrong: unknown command or option, missing or malformed value.</summary>
    public const int Usage = 2;

    /// <summary>Bad input or model files (missing, malformed, or not what the command needs), or no usable GPU for a GPU command.</summary>
    public const int BadInput = 3;
}
