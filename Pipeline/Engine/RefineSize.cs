using System.Globalization;

namespace CudaI2V.Pipeline.Engine;

/// <summary>
/// The size a low-resolution refine denoises at first (<see cref="GenerationOptions.RefineFrom"/>), width by height in
/// pixels (docs/step-caching.md).
/// </summary>
/// <param name="Width">Width, a multiple of 8, at most the requested width.</param>
/// <param name="Height">Height, a multiple of 8, at most the requested height.</param>
public readonly record struct RefineSize(int Width, int Height)
{
    /// <summary>The default strength: the last half of the schedule runs again at the requested size.</summary>
    public const double DefaultStrength = 0.5;

    /// <summary>Reads <c>WxH</c> (e.g. 640x352); null when it is not two positive integers joined by x.</summary>
    public static RefineSize? Parse(string? text)
    {
        var parts = (text ?? "").Split('x', 'X');
        return parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var w)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var h) && w > 0 && h > 0
            ? new RefineSize(w, h)
            : null;
    }

    /// <summary>
    /// Why this size cannot refine a <paramref name="width"/> x <paramref name="height"/> video, or null: each side a
    /// multiple of 8, neither above the target's, not the target itself, and the target's aspect ratio (the height
    /// within 8 pixels of width * target height / target width), since the latents are scaled by one factor per side.
    /// </summary>
    public string? Problem(int width, int height)
    {
        if (Width % 8 != 0 || Height % 8 != 0)
        {
            return "each side must be a multiple of 8";
        }

        if (Width > width || Height > height || (Width == width && Height == height))
        {
            return $"it must be smaller than the requested {width}x{height}";
        }

        return Math.Abs(((long)Width * height) - ((long)Height * width)) >= 8L * width
            ? $"it must have the requested {width}x{height}'s aspect ratio (a height within 8 pixels of {(double)Width * height / width:0.#})"
            : null;
    }

    /// <summary>diffusers' img2img count of steps run again: min(int(steps * strength), steps).</summary>
    public static int TailSteps(int steps, double strength) => Math.Min((int)(steps * strength), steps);

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Width}x{Height}");
}
