using System.Globalization;
using System.Text.Json;

namespace CudaI2V.Loader.Configs;

/// <summary>
/// <c>feature_extractor/preprocessor_config.json</c> of a <c>CLIPImageProcessor</c>. The I2VGen-XL pipeline uses
/// only the crop size and the normalisation; the other fields are read for completeness. Defaults are
/// transformers' (OpenAI CLIP mean and std, 224 crop).
/// </summary>
public sealed class FeatureExtractorConfig : ComponentConfig
{
    private FeatureExtractorConfig(ConfigReader r)
        : base(r, r.OptionalString("image_processor_type") ?? r.OptionalString("feature_extractor_type"))
    {
        r.Known("processor_class");
        (CropHeight, CropWidth) = ReadSize(r, "crop_size", 224);
        ShortestEdge = ReadShortestEdge(r);
        ImageMean = r.DoubleList("image_mean", [0.48145466, 0.4578275, 0.40821073]);
        ImageStd = r.DoubleList("image_std", [0.26862954, 0.26130258, 0.27577711]);
        Resample = r.Int("resample", 3, 0, 5);
        RescaleFactor = r.Double("rescale_factor", 1.0 / 255.0, 0, 1e6, minExclusive: true);
        DoCenterCrop = r.Bool("do_center_crop", true);
        DoConvertRgb = r.Bool("do_convert_rgb", true);
        DoNormalize = r.Bool("do_normalize", true);
        DoRescale = r.Bool("do_rescale", true);
        DoResize = r.Bool("do_resize", true);
        if (ImageMean.Count != 3 || ImageStd.Count != 3 || ImageStd.Any(s => s < 1e-6))
        {
            throw new ModelFileException($"{r.Path}: image_mean and image_std must have 3 values each, every std at least 1e-6.", r.Path, "image_std");
        }

        Finish();
    }

    /// <summary>Height of the CLIP input.</summary>
    public int CropHeight { get; }

    /// <summary>Width of the CLIP input.</summary>
    public int CropWidth { get; }

    /// <summary>The resize target's shortest edge.</summary>
    public int ShortestEdge { get; }

    /// <summary>Per-channel mean (RGB).</summary>
    public IReadOnlyList<double> ImageMean { get; }

    /// <summary>Per-channel standard deviation (RGB).</summary>
    public IReadOnlyList<double> ImageStd { get; }

    /// <summary>PIL resampling filter id (3 = bicubic).</summary>
    public int Resample { get; }

    /// <summary>Pixel scale (1/255).</summary>
    public double RescaleFactor { get; }

    /// <summary>Processor flag.</summary>
    public bool DoCenterCrop { get; }

    /// <summary>Processor flag.</summary>
    public bool DoConvertRgb { get; }

    /// <summary>Processor flag.</summary>
    public bool DoNormalize { get; }

    /// <summary>Processor flag.</summary>
    public bool DoRescale { get; }

    /// <summary>Processor flag.</summary>
    public bool DoResize { get; }

    /// <summary>Reads and validates <paramref name="path"/>.</summary>
    public static FeatureExtractorConfig Load(string path) => new(ConfigReader.Load(path));

    private static (int, int) ReadSize(ConfigReader r, string key, int fallback)
    {
        var raw = r.Raw(key);
        if (raw is not { } v)
        {
            return (fallback, fallback);
        }

        if (Side(v) is { } side)
        {
            return (side, side);
        }

        if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("height", out var h) && v.TryGetProperty("width", out var w)
            && Side(h) is { } height && Side(w) is { } width)
        {
            return (height, width);
        }

        throw new ModelFileException(
            $"{r.Path}: '{key}' must be an integer from 1 to {ConfigLimits.MaxSide} or {{\"height\": n, \"width\": n}} of such integers, found {v.GetRawText()}.",
            r.Path, key);
    }

    private static int ReadShortestEdge(ConfigReader r)
    {
        var raw = r.Raw("size");
        if (raw is not { } v)
        {
            return 224;
        }

        if (Side(v) is { } side)
        {
            return side;
        }

        if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("shortest_edge", out var e) && Side(e) is { } edge)
        {
            return edge;
        }

        throw new ModelFileException(
            $"{r.Path}: 'size' must be an integer from 1 to {ConfigLimits.MaxSide} or {{\"shortest_edge\": n}}, found {v.GetRawText()}.", r.Path, "size");
    }

    /// <summary>A side in pixels: a JSON integer from 1 to <see cref="ConfigLimits.MaxSide"/>, else null.</summary>
    private static int? Side(JsonElement v) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var side) && side is > 0 and <= ConfigLimits.MaxSide ? side : null;

    /// <inheritdoc/>
    public override IEnumerable<(string Name, string Value)> Summary()
    {
        yield return ("crop_size", $"{CropHeight}x{CropWidth}");
        yield return ("image_mean", List(ImageMean.Select(m => m.ToString("R", CultureInfo.InvariantCulture))));
        yield return ("image_std", List(ImageStd.Select(m => m.ToString("R", CultureInfo.InvariantCulture))));
    }
}
