using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Imaging;

/// <summary>
/// The I2VGen-XL pipeline's image preparation, as diffusers computes it:
/// <list type="bullet">
/// <item><see cref="CenterCropWide"/>: resize with PIL BOX so the image covers the target, then a centre crop
/// (which can start at -1 and so leave a black column or row, as diffusers does);</item>
/// <item><see cref="ClipPixels"/>: the (width x width) crop resized with PIL BILINEAR to the CLIP input size,
/// x / 255 and (x - mean) / std per channel in float32;</item>
/// <item><see cref="VaePixels"/>: the (width x height) crop as x / 255 * 2 - 1 in float32.</item>
/// </list>
/// Tensors come out in diffusers' layout (1, 3, H, W), for the models' edge conversion.
/// </summary>
public static class ImagePreprocessor
{
    /// <summary>diffusers' <c>_center_crop_wide</c> to <paramref name="width"/> x <paramref name="height"/>.</summary>
    public static RgbImage CenterCropWide(RgbImage image, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(image);
        var scale = Math.Min((double)image.Width / width, (double)image.Height / height);
        var coverWidth = PythonMath.Round(PythonMath.FloorDivide(image.Width, scale));
        var coverHeight = PythonMath.Round(PythonMath.FloorDivide(image.Height, scale));

        // An image far narrower or wider than the target must be scaled up a long way to cover it: refuse before
        // allocating the intermediate (a 16384x1 strip covering 1280x704 would need 11 million x 704 pixels).
        if (coverWidth < 1 || coverHeight < 1 || (double)coverWidth * coverHeight > ImageLoader.MaxPixels)
        {
            throw new ImageInputException(
                $"The {image.Width}x{image.Height} image is too far from the {width}x{height} target's aspect ratio: covering it needs "
                + $"{coverWidth}x{coverHeight} pixels, over the {ImageLoader.MaxPixels / (1024 * 1024)} megapixel limit. Crop the image nearer to the video's shape.");
        }

        var newWidth = (int)coverWidth;
        var newHeight = (int)coverHeight;
        var resized = PilResample.Resize(image, newWidth, newHeight, PilFilter.Box);
        var left = FloorDiv(newWidth - width, 2);
        var top = FloorDiv(newHeight - height, 2);
        return PilResample.Crop(resized, left, top, left + width, top + height);
    }

    /// <summary>The CLIP image encoder's input: (1, 3, cropHeight, cropWidth), normalised.</summary>
    public static Tensor ClipPixels(RgbImage image, int width, FeatureExtractorConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var crop = CenterCropWide(image, width, width);
        var resized = PilResample.Resize(crop, config.CropWidth, config.CropHeight, PilFilter.Bilinear);
        var mean = config.ImageMean.Select(m => (float)m).ToArray();
        var std = config.ImageStd.Select(s => (float)s).ToArray();
        return ToTensor(resized, (v, c) => ((v / 255f) - mean[c]) / std[c]);
    }

    /// <summary>The VAE encoder's input: (1, 3, height, width) in [-1, 1].</summary>
    public static Tensor VaePixels(RgbImage image, int width, int height) =>
        ToTensor(CenterCropWide(image, width, height), (v, _) => (2f * (v / 255f)) - 1f);

    private static Tensor ToTensor(RgbImage image, Func<float, int, float> map)
    {
        int w = image.Width, h = image.Height;
        var tensor = Tensor.Zeros(DType.F32, new TensorShape(1, 3, h, w));
        var values = tensor.AsSpan<float>();
        for (var c = 0; c < 3; c++)
        {
            for (var y = 0; y < h; y++)
            {
                for (var x = 0; x < w; x++)
                {
                    values[(((c * h) + y) * w) + x] = map(image.Pixels[((((long)y * w) + x) * 3) + c], c);
                }
            }
        }

        return tensor;
    }

    private static int FloorDiv(int a, int b) => (int)Math.Floor((double)a / b);
}
