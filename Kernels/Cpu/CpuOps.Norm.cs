using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cpu;

public sealed partial class CpuOps
{
    /// <inheritdoc/>
    /// <remarks>
    /// One task per (video, group). Statistics are two-pass in double: the mean first, then the mean of the
    /// squared deviations (the biased variance). The normalised value is computed in double and rounded once.
    /// </remarks>
    public Tensor GroupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, int frames = 1) =>
        Normalize(nameof(GroupNorm), x, groups, gamma, beta, eps, frames, silu: false);

    /// <inheritdoc/>
    /// <remarks>Composed: <see cref="GroupNorm"/>, its fp32 result then passed through <see cref="Silu"/> in place.</remarks>
    public Tensor GroupNormSilu(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, int frames = 1) =>
        Normalize(nameof(GroupNormSilu), x, groups, gamma, beta, eps, frames, silu: true);

    private Tensor Normalize(string op, Tensor x, int groups, Tensor gamma, Tensor beta, float eps, int frames, bool silu)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(gamma);
        ArgumentNullException.ThrowIfNull(beta);
        Require(op, nameof(x), x);
        Require(op, nameof(gamma), gamma);
        Require(op, nameof(beta), beta);
        OpShapes.GroupNorm(x, groups, gamma, beta, frames);

        var c = x.Shape[^1];
        var groupChannels = c / groups;

        // A video's frames are consecutive items, so its data is one contiguous block of `positions` pixels.
        var positions = frames * Product(x.Shape, 1, x.Shape.Rank - 1);
        var videos = x.Shape[0] / frames;
        var count = (double)positions * groupChannels;
        var y = NewTensor(op, x.Shape);

        Parallel.For(0, videos * groups, _parallel, task =>
        {
            var (video, group) = (task / groups, task % groups);
            var xs = x.AsSpan<float>().Slice(video * positions * c, positions * c);
            var ys = y.AsSpan<float>().Slice(video * positions * c, positions * c);
            var first = group * groupChannels;

            var sum = 0.0;
            for (var p = 0; p < positions; p++)
            {
                foreach (var v in xs.Slice((p * c) + first, groupChannels))
                {
                    sum += v;
                }
            }

            var mean = sum / count;
            var squares = 0.0;
            for (var p = 0; p < positions; p++)
            {
                foreach (var v in xs.Slice((p * c) + first, groupChannels))
                {
                    squares += (v - mean) * (v - mean);
                }
            }

            var rstd = 1.0 / Math.Sqrt((squares / count) + eps);
            var g = gamma.AsSpan<float>();
            var b = beta.AsSpan<float>();
            for (var p = 0; p < positions; p++)
            {
                for (var ch = first; ch < first + groupChannels; ch++)
                {
                    var i = (p * c) + ch;
                    ys[i] = (float)(((xs[i] - mean) * rstd * g[ch]) + b[ch]);
                }
            }
        });

        if (silu)
        {
            Apply(y, y, SiluOf);
        }

        return y;
    }

    /// <inheritdoc/>
    /// <remarks>One row per task; two-pass statistics in double, as in <see cref="GroupNorm"/>.</remarks>
    public Tensor LayerNorm(Tensor x, Tensor gamma, Tensor beta, float eps)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(gamma);
        ArgumentNullException.ThrowIfNull(beta);
        Require(nameof(LayerNorm), nameof(x), x);
        Require(nameof(LayerNorm), nameof(gamma), gamma);
        Require(nameof(LayerNorm), nameof(beta), beta);
        OpShapes.LayerNorm(x, gamma, beta);

        var c = x.Shape[^1];
        var rows = c == 0 ? 0 : (int)(x.ElementCount / c);
        var y = NewTensor(nameof(LayerNorm), x.Shape);

        Parallel.For(0, rows, _parallel, row =>
        {
            var xs = x.AsSpan<float>().Slice(row * c, c);
            var ys = y.AsSpan<float>().Slice(row * c, c);
            var sum = 0.0;
            foreach (var v in xs)
            {
                sum += v;
            }

            var mean = sum / c;
            var squares = 0.0;
            foreach (var v in xs)
            {
                squares += (v - mean) * (v - mean);
            }

            var rstd = 1.0 / Math.Sqrt((squares / c) + eps);
            var g = gamma.AsSpan<float>();
            var b = beta.AsSpan<float>();
            for (var i = 0; i < c; i++)
            {
                ys[i] = (float)(((xs[i] - mean) * rstd * g[i]) + b[i]);
            }
        });

        return y;
    }
}
