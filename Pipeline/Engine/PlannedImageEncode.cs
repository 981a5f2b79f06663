using CudaI2V.Kernels;
using CudaI2V.Kernels.Memory;
using CudaI2V.Layers.Clip;
using CudaI2V.Layers.Vae;
using CudaI2V.Loader;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Engine;

/// <summary>
/// The image's encode stage as planned forwards: the CLIP image encoder on the feature extractor's pixels and the VAE
/// encoder on the image at the video's size, each on an arena of its own taken for its one run and freed after it (so
/// the stage holds the larger of the two), with its input uploaded beside it.
/// </summary>
/// <param name="Clip">The image encoder's forward, (1, S, S, 3) pixels to the image embedding.</param>
/// <param name="Vae">The VAE encoder's forward, (1, H, W, 3) pixels to the latent moments.</param>
/// <param name="InputBytes">The larger of the two uploaded inputs, on the device beside its arena.</param>
public sealed record EncodePlan(ForwardPlan Clip, ForwardPlan Vae, long InputBytes)
{
    /// <summary>What the stage holds outside the weights at most: the larger arena with its input, and the reserve beside it.</summary>
    public long Bytes => Math.Max(Clip.Arena.Peak, Vae.Arena.Peak) + InputBytes + RequestMemory.Reserve;
}

/// <summary>Plans and runs the encode stage (<see cref="EncodePlan"/>), on every backend.</summary>
public static class PlannedImageEncode
{
    /// <summary>Plans the encode of a <paramref name="width"/> x <paramref name="height"/> image without touching a device.</summary>
    public static EncodePlan Plan(RequestModels models, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(models);
        var size = models.ImageEncoder.ImageSize;
        var clipInput = new TensorShape(1, 3, size, size);
        var vaeInput = new TensorShape(1, 3, height, width);
        var clip = PlannedForward.Record(models.UNetDType, planning =>
        {
            using var weights = PlannedUNetStep.ShapeOnly("image_encoder", models.ImageEncoderShapes);
            var model = ClipVisionModelWithProjection.Load(planning, weights, models.ImageEncoder);
            var pixels = PlannedUNetStep.Input(planning, clipInput);
            return () => model.Forward(planning.NchwToNhwc(pixels)).ImageEmbeds;
        });
        var vae = PlannedForward.Record(models.VaeDType, planning =>
        {
            using var weights = PlannedUNetStep.ShapeOnly("vae", models.VaeShapes, WeightAliases.LegacyVaeAttention);
            var model = AutoencoderKL.Load(planning, weights, models.Vae, VaeParts.Encoder);
            var pixels = PlannedUNetStep.Input(planning, vaeInput);
            return () => model.Encode(planning.NchwToNhwc(pixels));
        });
        var inputs = Math.Max(clipInput.ElementCount * models.UNetDType.SizeOf(), vaeInput.ElementCount * models.VaeDType.SizeOf());
        return new EncodePlan(clip, vae, inputs);
    }

    /// <summary>The image embedding (1, D) of CLIP pixels (1, 3, S, S) on the host, run on the planned arena.</summary>
    public static Tensor ImageEmbeds(IOps ops, EncodePlan plan, ClipVisionModelWithProjection clip, Tensor pixels)
    {
        ArgumentNullException.ThrowIfNull(ops);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(clip);
        return Run(ops, plan.Clip, "image encoder arena", pixels, input => clip.Forward(ops.NchwToNhwc(input)).ImageEmbeds);
    }

    /// <summary>The latent moments (1, h, w, 2L) of VAE pixels (1, 3, H, W) on the host, run on the planned arena.</summary>
    public static Tensor Moments(IOps ops, EncodePlan plan, AutoencoderKL encoder, Tensor pixels)
    {
        ArgumentNullException.ThrowIfNull(ops);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(encoder);
        return Run(ops, plan.Vae, "VAE encode arena", pixels, input => encoder.Encode(ops.NchwToNhwc(input)));
    }

    private static Tensor Run(IOps ops, ForwardPlan plan, string name, Tensor pixels, Func<Tensor, Tensor> forward)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        using var scope = ops.Memory.BeginScope();
        using var planned = PlannedForward.Create(ops, plan, RequestMemory.Reserve, name);
        var input = ops.FromHost(pixels);
        return ops.ToHost(planned.Run(() => forward(input)));
    }
}
