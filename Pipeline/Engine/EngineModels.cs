using CudaI2V.Kernels;
using CudaI2V.Layers.UNet;
using CudaI2V.Layers.Vae;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Pipeline.MemoryPlanning;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Engine;

/// <summary>
/// The models a <see cref="VideoEngine"/> runs, each loaded when a request's stage needs it, with the configs and weight
/// layouts its requests are planned from.
/// </summary>
/// <param name="Encoders">The CLIP image encoder and the VAE encoder (the encode stage).</param>
/// <param name="UNet">The UNet (the denoising loop).</param>
/// <param name="Decoder">The VAE decoder (the decode stage).</param>
/// <param name="VaeOps">The backend the VAE runs on (the UNet's, or a peer in fp32).</param>
/// <param name="UNetConfig">The UNet's config.</param>
/// <param name="VaeConfig">The VAE's config.</param>
/// <param name="ImageEncoderConfig">The image encoder's config.</param>
/// <param name="UNetShapes">The UNet's weight layout.</param>
/// <param name="VaeShapes">The VAE's weight layout (both halves).</param>
/// <param name="ImageEncoderShapes">The image encoder's weight layout.</param>
internal sealed record EngineModels(
    LoadableModel<ImageEncoderModels> Encoders, LoadableModel<I2VGenXLUNet> UNet, LoadableModel<AutoencoderKL> Decoder, IOps VaeOps,
    UNetConfig UNetConfig, VaeConfig VaeConfig, ClipVisionConfig ImageEncoderConfig,
    IReadOnlyList<WeightManifestEntry> UNetShapes, IReadOnlyList<WeightManifestEntry> VaeShapes, IReadOnlyList<WeightManifestEntry> ImageEncoderShapes) : IDisposable
{
    /// <summary>Whether every model can be freed and uploaded again (a plan may then hold only some of them).</summary>
    public bool Releasable => Encoders.CanRelease && UNet.CanRelease && Decoder.CanRelease;

    /// <summary>What requests on <paramref name="dtype"/> plan from: each model's activation dtype, config and layout.</summary>
    public RequestModels ForPlanning(DType dtype) =>
        new(dtype, UNetConfig, UNetShapes, VaeOps.ActivationDType, VaeConfig, VaeShapes, ImageEncoderConfig, ImageEncoderShapes);

    /// <summary>The bytes of <paramref name="weights"/> that are on the device now and could be freed.</summary>
    public long LoadedReleasableBytes(ComponentWeights weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        return (Loaded(Encoders) ? weights.Encoders : 0) + (Loaded(UNet) ? weights.UNet : 0) + (Loaded(Decoder) ? weights.Decoder : 0);

        static bool Loaded<T>(LoadableModel<T> model)
            where T : class => model.CanRelease && model.IsLoaded;
    }

    /// <summary>
    /// Frees the models <paramref name="stage"/> does not hold under <paramref name="residency"/> (loaded ones that can
    /// be uploaded again), before the stage takes its memory; the stage loads what it needs as it first uses it.
    /// </summary>
    public void Enter(RequestStage stage, WeightResidency residency)
    {
        if (!residency.HoldsEncoders(stage))
        {
            Encoders.Release();
        }

        if (!residency.HoldsUNet(stage))
        {
            UNet.Release();
        }

        if (!residency.HoldsDecoder(stage))
        {
            Decoder.Release();
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Encoders.Dispose();
        UNet.Dispose();
        Decoder.Dispose();
    }
}
