using CudaI2V.Loader.Configs;

namespace CudaI2V.Loader;

/// <summary>
/// What the components of a pipeline folder must agree on, beyond each config's own ranges: the shapes one
/// component hands the next. <c>generate</c> checks them before loading any weights and <c>inspect</c> reports them,
/// so both refuse the same folders. Each failure is a <see cref="ModelFileException"/> naming both files and keys.
/// </summary>
public static class PipelineChecks
{
    /// <summary>Throws when the components present in <paramref name="model"/> disagree; absent components are skipped.</summary>
    public static void Check(ModelDirectory model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Has(ComponentKind.Unet))
        {
            var unet = model.UNet;
            Agree(unet.OutChannels == unet.InChannels, unet, "out_channels", unet.OutChannels, unet, "in_channels", unet.InChannels,
                "the UNet's prediction updates the latents it is given");
            if (model.Has(ComponentKind.Vae))
            {
                var vae = model.Vae;
                Agree(vae.LatentChannels == unet.InChannels, vae, "latent_channels", vae.LatentChannels, unet, "in_channels", unet.InChannels,
                    "the UNet denoises the VAE's latents");
            }

            if (model.Has(ComponentKind.TextEncoder))
            {
                var text = model.TextEncoder;
                Agree(text.HiddenSize == unet.CrossAttentionDim, text, "hidden_size", text.HiddenSize, unet, "cross_attention_dim", unet.CrossAttentionDim,
                    "the UNet attends to the text encoder's hidden states");
            }

            if (model.Has(ComponentKind.ImageEncoder))
            {
                var image = model.ImageEncoder;
                Agree(image.ProjectionDim == unet.CrossAttentionDim, image, "projection_dim", image.ProjectionDim, unet, "cross_attention_dim", unet.CrossAttentionDim,
                    "the UNet embeds the image encoder's projection");
            }
        }

        if (model.Has(ComponentKind.ImageEncoder) && model.Has(ComponentKind.FeatureExtractor))
        {
            var image = model.ImageEncoder;
            var features = model.FeatureExtractor;
            Agree(features.CropHeight == image.ImageSize && features.CropWidth == image.ImageSize, features, "crop_size",
                $"{features.CropHeight}x{features.CropWidth}", image, "image_size", image.ImageSize,
                "the feature extractor makes the image encoder's input");
        }

        if (model.Has(ComponentKind.TextEncoder) && model.Has(ComponentKind.Tokenizer))
        {
            var text = model.TextEncoder;
            var tokenizer = model.Tokenizer;
            Agree(tokenizer.ModelMaxLength <= text.MaxPositionEmbeddings, tokenizer, "model_max_length", tokenizer.ModelMaxLength,
                text, "max_position_embeddings", text.MaxPositionEmbeddings, "the text encoder has a position for every token");
        }
    }

    private static void Agree(bool ok, ComponentConfig a, string keyA, object valueA, ComponentConfig b, string keyB, object valueB, string why)
    {
        if (!ok)
        {
            throw new ModelFileException(
                $"{a.Path}: '{keyA}' is {valueA} but {b.Path} has '{keyB}' {valueB}; they must agree ({why}). The folder mixes components of different models.",
                a.Path, keyA);
        }
    }
}
