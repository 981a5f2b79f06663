namespace CudaI2V.Loader;

/// <summary>
/// Older names under which a weight may be stored. A layer always asks for the current diffusers key; the
/// <see cref="WeightSet"/> falls back to each legacy spelling the map gives for it.
/// </summary>
public sealed class WeightAliases
{
    private readonly (string Current, string Legacy)[] _segments;

    private WeightAliases((string Current, string Legacy)[] segments) => _segments = segments;

    /// <summary>No aliases.</summary>
    public static WeightAliases None { get; } = new([]);

    /// <summary>
    /// VAE attention weights as diffusers wrote them before 0.14: <c>query</c>, <c>key</c>, <c>value</c> and
    /// <c>proj_attn</c> for today's <c>to_q</c>, <c>to_k</c>, <c>to_v</c> and <c>to_out.0</c> (diffusers converts
    /// them the same way on load).
    /// </summary>
    public static WeightAliases LegacyVaeAttention { get; } = new(
    [
        (".attentions.0.to_q.", ".attentions.0.query."),
        (".attentions.0.to_k.", ".attentions.0.key."),
        (".attentions.0.to_v.", ".attentions.0.value."),
        (".attentions.0.to_out.0.", ".attentions.0.proj_attn."),
    ]);

    /// <summary>The (current, legacy) segment pairs.</summary>
    public IReadOnlyList<(string Current, string Legacy)> Segments => _segments;

    /// <summary>The legacy names of <paramref name="key"/>, if any.</summary>
    public IEnumerable<string> LegacyNames(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        foreach (var (current, legacy) in _segments)
        {
            if (key.Contains(current, StringComparison.Ordinal))
            {
                yield return key.Replace(current, legacy, StringComparison.Ordinal);
            }
        }
    }
}
