using System.Globalization;
using CudaI2V.Loader;
using CudaI2V.Pipeline.Engine;

namespace CudaI2V.Cli.Commands;

/// <summary><c>generate</c>'s step caching and low-resolution refine options (docs/step-caching.md, docs/step-caching.md).</summary>
internal static class SpeedOptions
{
    /// <summary>The help of the four options.</summary>
    public static IReadOnlyList<OptionSpec> Specs { get; } =
    [
        new OptionSpec(
            "cache-interval", "n",
            "Step caching (DeepCache): the whole UNet on one step in n, only its shallow branch on the others, reusing the deep features of the last full step; 1 caches nothing.",
            Default: "1, or the preset's"),
        new OptionSpec(
            "cache-depth", "k",
            "The up block whose input step caching reuses (0 to the UNet's levels - 1); smaller k keeps more of the UNet fresh and saves less.",
            Default: "the last up block (3 on the release)"),
        new OptionSpec(
            "refine-from", "WxH",
            "Denoise every step at this smaller size (multiples of 8, the video's aspect ratio), upscale the latents, and run the schedule's tail again at --width x --height.",
            Default: "off"),
        new OptionSpec(
            "refine-strength", "s",
            "With --refine-from: the share of the schedule run again at the full size, above 0 and at most 1 (diffusers' img2img strength).",
            Default: "0.5"),
    ];

    /// <summary><paramref name="options"/> with the four options read (checked later by <see cref="GenerationOptions.Validate"/>).</summary>
    public static GenerationOptions Read(ParsedArgs args, GenerationOptions options)
    {
        RefineSize? refine = null;
        if (args.Get("refine-from") is { } text)
        {
            refine = RefineSize.Parse(text) ?? throw new UsageException($"--refine-from must be WIDTHxHEIGHT in pixels, such as 640x352; got '{text}'.");
        }

        var strength = RefineSize.DefaultStrength;
        if (args.Get("refine-strength") is { } s)
        {
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out strength) || !double.IsFinite(strength))
            {
                throw new UsageException($"--refine-strength must be a number above 0 and at most 1; got '{s}'.");
            }

            if (refine is null)
            {
                throw new UsageException("--refine-strength applies only with --refine-from WxH; give both, or drop it.");
            }
        }

        return options with
        {
            CacheInterval = args.GetInt32("cache-interval", options.CacheInterval, 1, 1000),
            CacheDepth = args.Has("cache-depth") ? args.GetInt32("cache-depth", 0, 0, 64) : null,
            RefineFrom = refine,
            RefineStrength = strength,
        };
    }

    /// <summary>Checks the cache depth against the folder's UNet before anything loads.</summary>
    public static void Check(ModelDirectory model, GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        var levels = model.UNet.BlockOutChannels.Count;
        if (options.CacheDepth is { } depth && depth >= levels)
        {
            throw new UsageException($"--cache-depth must be 0 to {levels - 1} for this model's UNet ({levels} levels: the up block whose input is cached), got {depth}.");
        }
    }
}
