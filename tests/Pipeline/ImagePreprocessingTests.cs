using CudaI2V.Loader.Configs;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace CudaI2V.Tests.Pipeline;

/// <summary>Image input and the pipeline's crop, resize and normalisation against what diffusers fed its models.</summary>
public sealed class ImagePreprocessingTests
{
    private static readonly string InputPng = Fixtures.Path("pipeline-tiny", "input.png");

    [Fact]
    public void Clip_pixels_equal_the_pipeline_fixture()
    {
        var image = ImageLoader.Load(InputPng);
        Assert.Equal((80, 60), (image.Width, image.Height));
        var config = FeatureExtractorConfig.Load(Fixtures.Path("pipeline-tiny", "model", "feature_extractor", "preprocessor_config.json"));
        var pixels = ImagePreprocessor.ClipPixels(image, 56, config);
        using var io = SafetensorsFile.Open(Fixtures.Path("pipeline-tiny", "pipeline-io.safetensors"));
        var result = TensorComparison.Compare(pixels, io.GetTensor("image_encoder/root::in.0"));
        Assert.True(result.MaxAbs <= 1e-6, result.ToString());
    }

    [Fact]
    public void Vae_pixels_equal_the_pipeline_fixture()
    {
        var pixels = ImagePreprocessor.VaePixels(ImageLoader.Load(InputPng), 56, 40);
        using var io = SafetensorsFile.Open(Fixtures.Path("pipeline-tiny", "pipeline-io.safetensors"));
        Assert.Equal(io.GetTensor("vae/encoder::in.0").ToFloat32Array(), pixels.ToFloat32Array());
    }

    [Theory]
    [InlineData(704.0, 0.55, 1279.0)]
    [InlineData(7.0, 2.0, 3.0)]
    [InlineData(-7.0, 2.0, -4.0)]
    [InlineData(1.0, 0.1, 9.0)]
    public void Floor_division_is_pythons(double a, double b, double expected) => Assert.Equal(expected, PythonMath.FloorDivide(a, b));

    [Fact]
    public void Wide_crop_can_leave_a_black_edge_as_diffusers_does()
    {
        // 704 // 0.55 = 1279: resizing 704x1280 for a 1280-wide square gives 1279 columns, so the crop starts at -1.
        var image = new RgbImage(704, 704, Enumerable.Repeat((byte)200, 704 * 704 * 3).ToArray());
        var crop = ImagePreprocessor.CenterCropWide(image, 1280, 1280);
        Assert.Equal((1280, 1280), (crop.Width, crop.Height));
        Assert.Equal(0, crop[0, 640, 0]);
        Assert.Equal(200, crop[1, 640, 0]);
    }

    [Fact]
    public void Box_resize_averages_and_bilinear_resize_antialiases()
    {
        var image = new RgbImage(4, 1, [0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255]);
        var box = PilResample.Resize(image, 2, 1, PilFilter.Box);
        Assert.Equal(new byte[] { 50, 50, 50, 228, 228, 228 }, box.Pixels);
        var bilinear = PilResample.Resize(image, 2, 1, PilFilter.Bilinear);
        Assert.True(bilinear.Pixels[0] > 0 && bilinear.Pixels[0] < 100);
        Assert.Equal(image.Pixels, PilResample.Resize(image, 4, 1, PilFilter.Box).Pixels);
    }

    [Fact]
    public void Images_are_made_rgb_and_oriented()
    {
        var dir = Fixtures.TempFolder("images");
        var rgba = Path.Combine(dir, "rgba.png");
        using (var image = new Image<Rgba32>(3, 2, new Rgba32(10, 20, 30, 0)))
        {
            image.SaveAsPng(rgba);
        }

        var loaded = ImageLoader.Load(rgba);
        Assert.Equal((10, 20, 30), (loaded[2, 1, 0], loaded[2, 1, 1], loaded[2, 1, 2]));

        var grey = Path.Combine(dir, "grey.png");
        using (var image = new Image<L8>(2, 2, new L8(77)))
        {
            image.SaveAsPng(grey);
        }

        Assert.All(ImageLoader.Load(grey).Pixels, b => Assert.Equal(77, b));

        var rotated = Path.Combine(dir, "rotated.jpg");
        using (var image = new Image<Rgb24>(4, 2, new Rgb24(0, 0, 0)))
        {
            image.Metadata.ExifProfile = new SixLabors.ImageSharp.Metadata.Profiles.Exif.ExifProfile();
            image.Metadata.ExifProfile.SetValue(SixLabors.ImageSharp.Metadata.Profiles.Exif.ExifTag.Orientation, (ushort)6);
            image.SaveAsJpeg(rotated);
        }

        var oriented = ImageLoader.Load(rotated);
        Assert.Equal((2, 4), (oriented.Width, oriented.Height));
    }

    [Fact]
    public void Bad_images_are_refused_with_the_file_named()
    {
        var dir = Fixtures.TempFolder("bad-images");
        var text = Path.Combine(dir, "notes.png");
        File.WriteAllText(text, "not an image");
        Assert.Contains("notes.png", Assert.Throws<ImageInputException>(() => ImageLoader.Load(text)).Message, StringComparison.Ordinal);

        var truncated = Path.Combine(dir, "truncated.png");
        File.WriteAllBytes(truncated, File.ReadAllBytes(InputPng)[..60]);
        Assert.Throws<ImageInputException>(() => ImageLoader.Load(truncated));

        // A PNG whose header announces 100000 x 100000 pixels: refused before decoding.
        var bytes = File.ReadAllBytes(InputPng);
        var huge = (byte[])bytes.Clone();
        WriteBigEndian(huge, 16, 100_000);
        WriteBigEndian(huge, 20, 100_000);
        FixPngHeaderCrc(huge);
        var hugePath = Path.Combine(dir, "huge.png");
        File.WriteAllBytes(hugePath, huge);
        var e = Assert.Throws<ImageInputException>(() => ImageLoader.Load(hugePath));
        Assert.Contains("100000x100000", e.Message, StringComparison.Ordinal);

        Assert.Throws<ImageInputException>(() => ImageLoader.Load(Path.Combine(dir, "missing.png")));
    }

    private static void WriteBigEndian(byte[] bytes, int offset, int value)
    {
        bytes[offset] = (byte)(value >> 24);
        bytes[offset + 1] = (byte)(value >> 16);
        bytes[offset + 2] = (byte)(value >> 8);
        bytes[offset + 3] = (byte)value;
    }

    private static void FixPngHeaderCrc(byte[] png)
    {
        // IHDR: length at 8, type at 12, 13 data bytes at 16, CRC over type + data at 29.
        var crc = 0xFFFFFFFFu;
        foreach (var b in png.AsSpan(12, 17))
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
            }
        }

        WriteBigEndian(png, 29, unchecked((int)~crc));
    }
}
