namespace CudaI2V.Layers.Modules;

/// <summary>
/// How a model's layers split their work to bound the memory of one op's output, shared by every layer bound
/// through one <see cref="WeightBinder"/> and read when a layer runs, so that a request can choose it per run (the
/// memory planner does, before any work). Every setting gives the same values: only the size of the pieces changes.
/// </summary>
public sealed class LayerChunking
{
    /// <summary>
    /// The most bytes a <see cref="FeedForward"/>'s widened hidden layer may take at once: tokens are run in chunks
    /// that stay under it (<see cref="long.MaxValue"/>: every token at once).
    /// </summary>
    public long FeedForwardHiddenBytes
    {
        get;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            field = value;
        }
    } = FeedForward.MaxHiddenBytes;
}
