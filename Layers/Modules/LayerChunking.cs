using CudaI2V.Kernels;
using CudaI2V.Runtime.Tensors;

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

    /// <summary>
    /// The most frame-images (rows of a (batch * frames, H, W, C) state) a per-frame spatial layer takes at once: the
    /// UNet's spatial resnets and spatial transformers run over chunks of this many images and join the chunks'
    /// outputs, so their intermediates hold only a chunk (<see cref="int.MaxValue"/>: every image at once). Exact:
    /// those layers treat every image on its own (per-image group norms, 2-D convolutions, attention within an image).
    /// </summary>
    public int SpatialImages
    {
        get;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            field = value;
        }
    } = int.MaxValue;

    /// <summary>
    /// Runs <paramref name="part"/> over rows [start, start + count) of a state of <paramref name="rows"/> images in
    /// chunks of at most <paramref name="chunk"/> rows and joins the outputs on the first axis (one call when
    /// everything fits one chunk).
    /// </summary>
    public static Tensor ByRows(IOps ops, int rows, int chunk, Func<int, int, Tensor> part) => ByGroups(ops, rows, chunk, 1, part);

    /// <summary>
    /// <see cref="ByRows"/> for a state whose rows come in groups of <paramref name="group"/> consecutive rows (a video's
    /// frames, which share one context row): chunks of at most <paramref name="chunk"/> rows that are whole groups
    /// when a group fits a chunk (as many as fit), and otherwise lie within one group (a group's last chunk may be
    /// shorter). So every chunk reads either whole groups' context rows or one group's.
    /// </summary>
    public static Tensor ByGroups(IOps ops, int rows, int chunk, int group, Func<int, int, Tensor> part)
    {
        ArgumentNullException.ThrowIfNull(ops);
        ArgumentNullException.ThrowIfNull(part);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunk, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(group, 1);
        if (rows % group != 0)
        {
            throw new ArgumentException($"{rows} rows do not split into groups of {group}.", nameof(group));
        }

        if (rows <= chunk)
        {
            return part(0, rows);
        }

        var parts = new List<Tensor>();
        for (var start = 0; start < rows;)
        {
            var count = chunk >= group ? Math.Min(chunk / group * group, rows - start) : Math.Min(chunk, group - (start % group));
            parts.Add(part(start, count));
            start += count;
        }

        return ops.Concat(parts, axis: 0);
    }
}
