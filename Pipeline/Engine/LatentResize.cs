using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Engine;

/// <summary>
/// The host arithmetic of a low-resolution refine (docs/step-caching.md): the latents' bilinear upscale and diffusers'
/// add_noise as two weights.
/// </summary>
public static class LatentResize
{
    /// <summary>
    /// (N, h, w, C) F32 to (N, <paramref name="height"/>, <paramref name="width"/>, C) by bilinear interpolation with
    /// half-pixel centres, as PyTorch's <c>F.interpolate(mode="bilinear", align_corners=False)</c> without antialias:
    /// source coordinate (i + 0.5) * in / out - 0.5, clamped at 0, neighbours clamped at the edge.
    /// </summary>
    public static Tensor Bilinear(Tensor x, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        int n = x.Shape[0], h = x.Shape[1], w = x.Shape[2], c = x.Shape[3];
        var source = x.Contiguous().To(DType.F32).AsSpan<float>();
        var result = Tensor.Zeros(DType.F32, new TensorShape(n, height, width, c));
        var target = result.AsSpan<float>();
        var (y0, y1, fy) = Axis(h, height);
        var (x0, x1, fx) = Axis(w, width);
        int Pixel(int b, int y, int x) => (((b * h) + y) * w + x) * c;
        for (var b = 0; b < n; b++)
        {
            for (var i = 0; i < height; i++)
            {
                for (var j = 0; j < width; j++)
                {
                    var output = (((b * height) + i) * width + j) * c;
                    int p00 = Pixel(b, y0[i], x0[j]), p01 = Pixel(b, y0[i], x1[j]), p10 = Pixel(b, y1[i], x0[j]), p11 = Pixel(b, y1[i], x1[j]);
                    for (var k = 0; k < c; k++)
                    {
                        var top = source[p00 + k] + (fx[j] * (source[p01 + k] - source[p00 + k]));
                        var bottom = source[p10 + k] + (fx[j] * (source[p11 + k] - source[p10 + k]));
                        target[output + k] = top + (fy[i] * (bottom - top));
                    }
                }
            }
        }

        return result;
    }

    /// <summary><paramref name="sampleWeight"/> * x0 + <paramref name="noiseWeight"/> * noise, elementwise in F32 (same shapes).</summary>
    public static Tensor AddNoise(Tensor x0, float sampleWeight, Tensor noise, float noiseWeight)
    {
        ArgumentNullException.ThrowIfNull(x0);
        ArgumentNullException.ThrowIfNull(noise);
        if (x0.Shape != noise.Shape)
        {
            throw new ArgumentException($"The noise must have the latents' shape {x0.Shape}; got {noise.Shape}.", nameof(noise));
        }

        var a = x0.Contiguous().To(DType.F32).AsSpan<float>();
        var e = noise.Contiguous().To(DType.F32).AsSpan<float>();
        var result = Tensor.Zeros(DType.F32, x0.Shape);
        var r = result.AsSpan<float>();
        for (var i = 0; i < r.Length; i++)
        {
            r[i] = (sampleWeight * a[i]) + (noiseWeight * e[i]);
        }

        return result;
    }

    private static (int[] Low, int[] High, float[] Fraction) Axis(int input, int output)
    {
        var low = new int[output];
        var high = new int[output];
        var fraction = new float[output];
        var scale = (float)input / output;
        for (var i = 0; i < output; i++)
        {
            var position = Math.Max(((i + 0.5f) * scale) - 0.5f, 0f);
            low[i] = Math.Min((int)position, input - 1);
            high[i] = Math.Min(low[i] + 1, input - 1);
            fraction[i] = position - low[i];
        }

        return (low, high, fraction);
    }
}
