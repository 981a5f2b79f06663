using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.Modules;

/// <summary>
/// The keys and values of a constant cross-attention context, projected once per request for each attention
/// that reads it and reused at every denoising step (only the queries change between steps). The UNet keeps one row
/// per video, (B, tokens, inner): the frames of a video share it (see <see cref="Kernels.IOps.Attention"/>).
/// </summary>
public sealed class CrossAttentionCache
{
    private readonly Dictionary<Attention, (Tensor K, Tensor V)> _projected = new(ReferenceEqualityComparer.Instance);

    /// <summary>Attentions with projected keys and values.</summary>
    public int Count => _projected.Count;

    /// <summary>Projects <paramref name="context"/> for <paramref name="attention"/> and keeps the result.</summary>
    public void Add(Attention attention, Tensor context)
    {
        ArgumentNullException.ThrowIfNull(attention);
        _projected[attention] = attention.ProjectContext(context);
    }

    /// <summary>
    /// The same cache over rows [<paramref name="start"/>, start + <paramref name="count"/>) of every kept key and value
    /// (views). The rows are the context's: one per video in the UNet, not one per frame.
    /// </summary>
    public CrossAttentionCache Rows(int start, int count)
    {
        var rows = new CrossAttentionCache();
        foreach (var (attention, (k, v)) in _projected)
        {
            rows._projected[attention] = (k.Slice(0, start, count), v.Slice(0, start, count));
        }

        return rows;
    }

    /// <summary>Every kept key and value tensor.</summary>
    public IEnumerable<Tensor> Tensors => _projected.Values.SelectMany(p => new[] { p.K, p.V });

    /// <summary>The kept keys and values of <paramref name="attention"/>, if any.</summary>
    public bool TryGet(Attention attention, out (Tensor K, Tensor V) projected) => _projected.TryGetValue(attention, out projected);
}
