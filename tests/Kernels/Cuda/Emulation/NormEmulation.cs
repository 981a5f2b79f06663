using CudaI2V.Kernels.Cuda;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda.Emulation;

/// <summary>
/// Host mirrors of GroupNorm.cu and LayerNorm.cu that follow the launch's grid as the kernels do: GroupNorm's
/// statistics block (x, y) takes statistic x's split y and writes its partial moments where the kernel does, the
/// finalize warps merge them into (mean, rstd), the apply finds each element's statistic; LayerNorm's warps take rows
/// block * 8 + warp, stepping by the grid. A plan whose grid, splits, workspace layout or strides were wrong leaves
/// poisoned (NaN) values behind or reads outside its tensors. Moments are summed in double and stored in fp32 where the
/// kernels store them; the normalisation itself is the kernels' fp32 arithmetic.
/// </summary>
internal static class NormEmulation
{
    private const int LayerNormRowsPerBlock = 8;

    public static void GroupNorm(EmulatedMemory memory, KernelLaunch<GroupNormParams> launch)
    {
        var p = launch.Params;
        var dtype = ElementwiseEmulation.SuffixType(launch.Entry);
        var variant = launch.Entry[..launch.Entry.LastIndexOf('_')];
        switch (variant)
        {
            case "group_norm_stats":
                Statistics(memory, launch.Config, p, dtype);
                break;
            case "group_norm_finalize":
                Finalize(memory, launch.Config, p, dtype);
                break;
            case "group_norm_apply":
                Apply(memory, p, dtype);
                break;
            default:
                throw new NotSupportedException(launch.Entry);
        }
    }

    public static void LayerNorm(EmulatedMemory memory, KernelLaunch<LayerNormParams> launch)
    {
        var p = launch.Params;
        var dtype = ElementwiseEmulation.SuffixType(launch.Entry);
        var (gamma, beta) = (memory.At(p.Gamma, dtype), memory.At(p.Beta, dtype));
        var c = p.Channels;
        var (blocks, warps) = (launch.Config.Grid.X, launch.Config.Block.X / 32);
        for (long block = 0; block < blocks; block++)
        {
            for (var warp = 0; warp < warps; warp++)
            {
                for (var row = (block * LayerNormRowsPerBlock) + warp; row < p.Rows; row += blocks * LayerNormRowsPerBlock)
                {
                    var x = memory.At(p.X + (ulong)(row * c * dtype.SizeOf()), dtype);
                    var y = memory.At(p.Y + (ulong)(row * c * dtype.SizeOf()), dtype);
                    var sum = 0.0;
                    for (var i = 0; i < c; i++)
                    {
                        sum += x[i];
                    }

                    var mean = (float)(sum / c);
                    var squares = 0.0;
                    for (var i = 0; i < c; i++)
                    {
                        var d = x[i] - mean;
                        squares += d * d;
                    }

                    var rstd = (float)(1 / Math.Sqrt((squares / c) + p.Eps));
                    for (var i = 0; i < c; i++)
                    {
                        y[i] = ((x[i] - mean) * rstd * gamma[i]) + beta[i];
                    }
                }
            }
        }
    }

    private static void Statistics(EmulatedMemory memory, LaunchConfig config, GroupNormParams p, DType dtype)
    {
        var partials = memory.At(p.Partials, DType.F32);
        for (var stat = 0; stat < config.Grid.X; stat++)
        {
            var (video, group) = (stat / p.Groups, stat % p.Groups);
            var x = memory.At(p.X + (ulong)(((video * p.VideoElements) + ((long)group * p.GroupChannels)) * dtype.SizeOf()), dtype);
            var shift = x[0];
            var share = ((long)p.GroupElements + p.Splits - 1) / p.Splits;
            for (var split = 0; split < config.Grid.Y; split++)
            {
                var begin = Math.Min(split * share, p.GroupElements);
                var end = Math.Min(p.GroupElements, begin + share);
                var (n, sum, squares) = (0L, 0.0, 0.0);
                for (var j = begin; j < end; j++)
                {
                    var position = j / p.GroupChannels;
                    var d = (double)x[(position * p.Channels) + (j - (position * p.GroupChannels))] - shift;
                    (n, sum, squares) = (n + 1, sum + d, squares + (d * d));
                }

                var mean = n > 0 ? sum / n : 0;
                var at = (((long)stat * p.Splits) + split) * 3;
                (partials[at], partials[at + 1], partials[at + 2]) = (n, (float)mean, (float)Math.Max(squares - (sum * mean), 0));
            }
        }
    }

    private static void Finalize(EmulatedMemory memory, LaunchConfig config, GroupNormParams p, DType dtype)
    {
        var (partials, stats, x) = (memory.At(p.Partials, DType.F32), memory.At(p.Stats, DType.F32), memory.At(p.X, dtype));
        var warps = config.Block.X / 32;
        for (long stat = 0; stat < config.Grid.X * warps; stat++)
        {
            if (stat >= p.StatCount)
            {
                break;
            }

            var (n, mean, m2) = (0.0, 0.0, 0.0);
            for (var s = 0; s < p.Splits; s++)
            {
                var at = ((stat * p.Splits) + s) * 3;
                (n, mean, m2) = Merge((n, mean, m2), (partials[at], partials[at + 1], partials[at + 2]));
            }

            var shift = x[(stat / p.Groups * p.VideoElements) + (stat % p.Groups * p.GroupChannels)];
            stats[stat * 2] = (float)(shift + mean);
            stats[(stat * 2) + 1] = (float)(1 / Math.Sqrt((m2 / n) + p.Eps));
        }
    }

    private static void Apply(EmulatedMemory memory, GroupNormParams p, DType dtype)
    {
        var (x, y, stats) = (memory.At(p.X, dtype), memory.At(p.Y, dtype), memory.At(p.Stats, DType.F32));
        var (gamma, beta) = (memory.At(p.Gamma, dtype), memory.At(p.Beta, dtype));
        for (long i = 0; i < p.Count; i++)
        {
            var c = (int)(i % p.Channels);
            var stat = (i / p.VideoElements * p.Groups) + (c / p.GroupChannels);
            var v = ((x[i] - stats[stat * 2]) * stats[(stat * 2) + 1] * gamma[c]) + beta[c];
            y[i] = p.Silu != 0 ? ElementwiseEmulation.Silu(v) : v;
        }
    }

    /// <summary>Chan, Golub and LeVeque's merge of two sets' (count, mean, M2), as GroupNorm.cu's <c>merge</c>.</summary>
    private static (double N, double Mean, double M2) Merge((double N, double Mean, double M2) a, (double N, double Mean, double M2) b)
    {
        if (b.N == 0)
        {
            return a;
        }

        if (a.N == 0)
        {
            return b;
        }

        var n = a.N + b.N;
        var delta = b.Mean - a.Mean;
        return (n, a.Mean + (delta * b.N / n), a.M2 + b.M2 + (delta * delta * a.N * b.N / n));
    }
}
