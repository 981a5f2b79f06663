using CudaI2V.Loader;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.MemoryPlanning;

/// <summary>
/// The bytes of the weights a request holds on its device, by model, so that each stage counts only the models it holds
/// under a <see cref="WeightResidency"/>.
/// </summary>
/// <param name="UNet">The UNet's weights.</param>
/// <param name="Decoder">The VAE decoder's (post_quant_conv and decoder).</param>
/// <param name="Encoders">The CLIP image encoder's and the VAE encoder's (encoder and quant_conv).</param>
/// <param name="Releasable">Whether the models can be freed and uploaded again (false for an engine assembled from loaded models: only <see cref="WeightResidency.KeepAll"/>).</param>
public sealed record ComponentWeights(long UNet, long Decoder, long Encoders, bool Releasable = true)
{
    /// <summary>No weights (a plan of the activations alone).</summary>
    public static ComponentWeights None { get; } = new(0, 0, 0);

    /// <summary>Every weight.</summary>
    public long Total => UNet + Decoder + Encoders;

    /// <summary>The weights on the device during <paramref name="stage"/> under <paramref name="residency"/>.</summary>
    public long Held(WeightResidency residency, RequestStage stage) =>
        (residency.HoldsUNet(stage) ? UNet : 0) + (residency.HoldsDecoder(stage) ? Decoder : 0) + (residency.HoldsEncoders(stage) ? Encoders : 0);

    /// <summary>The weights a request under <paramref name="residency"/> uploads again (the models it frees), in bytes.</summary>
    public long Reloaded(WeightResidency residency) => residency switch
    {
        WeightResidency.KeepAll => 0,
        WeightResidency.ReleaseEncoders => Encoders,
        _ => Total,
    };

    /// <summary>Whether a VAE weight belongs to its encoder half (<c>encoder.*</c>, <c>quant_conv.*</c>); the rest is the decoder's.</summary>
    public static bool IsVaeEncoderKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key.StartsWith("encoder.", StringComparison.Ordinal) || key.StartsWith("quant_conv.", StringComparison.Ordinal);
    }

    /// <summary>
    /// The weights of the UNet and image encoder stored in <paramref name="dtype"/> and of the VAE in
    /// <paramref name="vaeDType"/>, from their layouts: what the engine loads and what <c>cudai2v plan</c> counts.
    /// </summary>
    public static ComponentWeights Of(
        DType dtype, IReadOnlyList<WeightManifestEntry> unet, IReadOnlyList<WeightManifestEntry> imageEncoder, DType vaeDType, IReadOnlyList<WeightManifestEntry> vae)
    {
        ArgumentNullException.ThrowIfNull(unet);
        ArgumentNullException.ThrowIfNull(imageEncoder);
        ArgumentNullException.ThrowIfNull(vae);
        var vaeEncoder = Bytes(vaeDType, vae.Where(e => IsVaeEncoderKey(e.Key)));
        var vaeDecoder = Bytes(vaeDType, vae.Where(e => !IsVaeEncoderKey(e.Key)));
        return new ComponentWeights(Bytes(dtype, unet), vaeDecoder, Bytes(dtype, imageEncoder) + vaeEncoder);
    }

    /// <summary>The bytes of the weights of <paramref name="shapes"/> stored in <paramref name="dtype"/>.</summary>
    public static long Bytes(DType dtype, IEnumerable<WeightManifestEntry> shapes)
    {
        ArgumentNullException.ThrowIfNull(shapes);
        return shapes.Sum(e => e.Shape.ElementCount * dtype.SizeOf());
    }
}
