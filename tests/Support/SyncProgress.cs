namespace CudaI2V.Tests.Support;

/// <summary>Calls <paramref name="report"/> on the reporting thread, at once (<see cref="Progress{T}"/> would post it elsewhere, later).</summary>
/// <typeparam name="T">What is reported.</typeparam>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
