using CudaI2V.Loader;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.MemoryPlanning;

/// <summary>
/// The bytes of the weights a request holds on its device, split by when they are needed: <paramref name="Loop"/>
/// through the denoising loop and the decode (the UNet, the VAE decoder), <paramref name="Encoders"/> only while the
/// image is encoded (the CLIP image encoder, the VAE encoder), which a plan may release after use
/// (<see cref="MemoryChoices.ReleaseEncoders"/>).
/// </summary>
/// <param name="Loop">The UNet's and the VAE decoder's weights.</param>
/// <param name="Encoders">The image encoder's and the VAE encoder's weights.</param>
public sealed record ComponentWeights(long Loop, long Encoders)
{
    /// <summary>Every weight.</summary>
    public long Total => Loop + Encoders;

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
        static long Bytes(DType d, IEnumerable<WeightManifestEntry> shapes) => shapes.Sum(e => e.Shape.ElementCount * d.SizeOf());
        var vaeEncoder = Bytes(vaeDType, vae.Where(e => IsVaeEncoderKey(e.Key)));
        var vaeDecoder = Bytes(vaeDType, vae.Where(e => !IsVaeEncoderKey(e.Key)));
        return new ComponentWeights(Bytes(dtype, unet) + vaeDecoder, Bytes(dtype, imageEncoder) + vaeEncoder);
    }
}
