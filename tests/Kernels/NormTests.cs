using CudaI2V.Kernels.Cpu;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Kernels;

/// <summary>CpuOps.GroupNorm (per image and across frames), GroupNormSilu and LayerNorm against naive loops in double.</summary>
public sealed class NormTests
{
    private readonly CpuOps _ops = new();

    [Fact]
    public void GroupNorm_PerImage_MatchesNaive()
    {
        var data = new TestData(21);
        var x = data.Uniform(3, 4, 5, 8);
        var (gamma, beta) = (data.Uniform(8), data.Uniform(8));

        var actual = _ops.GroupNorm(x, groups: 4, gamma, beta, eps: 1e-5f);

        Tolerance.Fp32.AssertClose(NaiveGroupNorm(x, 4, gamma, beta, 1e-5f, frames: 1), actual);
    }

    [Fact]
    public void GroupNorm_Temporal_StatisticsSpanAllFramesOfAVideo()
    {
        var data = new TestData(22);
        var (b, f) = (2, 3);
        var x = data.Uniform(b * f, 4, 5, 8);

        // Give each frame its own offset so per-frame and per-video statistics clearly differ.
        var values = x.AsSpan<float>();
        for (var i = 0; i < values.Length; i++)
        {
            values[i] += i / (4 * 5 * 8) % f;
        }

        var (gamma, beta) = (data.Uniform(8), data.Uniform(8));

        var temporal = _ops.GroupNorm(x, groups: 2, gamma, beta, eps: 1e-6f, frames: f);
        var perImage = _ops.GroupNorm(x, groups: 2, gamma, beta, eps: 1e-6f);

        Tolerance.Fp32.AssertClose(NaiveGroupNorm(x, 2, gamma, beta, 1e-6f, frames: f), temporal);
        var difference = temporal.ToFloat32Array().Zip(perImage.ToFloat32Array(), (p, q) => Math.Abs(p - q)).Max();
        Assert.True(difference > 0.1, $"Temporal and per-image GroupNorm differ by only {difference}.");
    }

    [Fact]
    public void GroupNorm_OnTokens_MatchesNaive()
    {
        // The VAE mid-block attention normalises (1, H * W, C) tokens.
        var data = new TestData(23);
        var x = data.Uniform(2, 10, 16);
        var (gamma, beta) = (data.Uniform(16), data.Uniform(16));

        var actual = _ops.GroupNorm(x, groups: 4, gamma, beta, eps: 1e-6f);

        Tolerance.Fp32.AssertClose(NaiveGroupNorm(x, 4, gamma, beta, 1e-6f, frames: 1), actual);
    }

    [Fact]
    public void GroupNorm_LargeMean_KeepsPrecision()
    {
        // One-pass E[x^2] - E[x]^2 in float would lose the variance here; the two-pass double statistics do not.
        var data = new TestData(24);
        var x = Tensor.FromSpan<float>(data.Floats(2 * 3 * 3 * 4).Select(v => 1000f + (v * 0.01f)).ToArray(), new TensorShape(2, 3, 3, 4));
        var gamma = Tensor.FromArray(new float[] { 1, 1, 1, 1 }, 4);
        var beta = Tensor.FromArray(new float[] { 0, 0, 0, 0 }, 4);

        var actual = _ops.GroupNorm(x, groups: 2, gamma, beta, eps: 1e-12f);

        Tolerance.Fp32.AssertClose(NaiveGroupNorm(x, 2, gamma, beta, 1e-12f, frames: 1), actual);
    }

    [Fact]
    public void GroupNormSilu_EqualsSiluOfGroupNorm()
    {
        var data = new TestData(25);
        var x = data.Uniform(4, 3, 2, 6);
        var (gamma, beta) = (data.Uniform(6), data.Uniform(6));

        var fused = _ops.GroupNormSilu(x, groups: 3, gamma, beta, eps: 1e-5f, frames: 2);
        var composed = _ops.Silu(_ops.GroupNorm(x, groups: 3, gamma, beta, eps: 1e-5f, frames: 2));

        Tolerance.Exact.AssertClose(composed, fused);
    }

    [Fact]
    public void GroupNorm_ChannelsNotDivisibleByGroups_Throws()
    {
        var x = Tensor.Zeros(DType.F32, new TensorShape(1, 2, 2, 6));
        var gamma = Tensor.Zeros(DType.F32, new TensorShape(6));
        var error = Assert.Throws<ArgumentException>(() => _ops.GroupNorm(x, groups: 4, gamma, gamma, 1e-5f));
        Assert.Contains("[1, 2, 2, 6]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LayerNorm_MatchesNaive()
    {
        var data = new TestData(26);
        var x = data.Uniform(2, 7, 20);
        var (gamma, beta) = (data.Uniform(20), data.Uniform(20));

        var actual = _ops.LayerNorm(x, gamma, beta, eps: 1e-5f);

        var xs = Naive.Values(x);
        var (g, bt) = (Naive.Values(gamma), Naive.Values(beta));
        var expected = new double[xs.Length];
        for (var row = 0; row < 14; row++)
        {
            var slice = xs.AsSpan(row * 20, 20).ToArray();
            var mean = slice.Average();
            var variance = slice.Select(v => (v - mean) * (v - mean)).Average();
            for (var i = 0; i < 20; i++)
            {
                expected[(row * 20) + i] = ((slice[i] - mean) / Math.Sqrt(variance + 1e-5f) * g[i]) + bt[i];
            }
        }

        Tolerance.Fp32.AssertClose(expected, actual);
    }

    /// <summary>
    /// PyTorch's GroupNorm on the NC... tensor: for video v (frames consecutive images) and group g, mean and biased
    /// variance over every (image, position, channel of g), computed in double.
    /// </summary>
    private static double[] NaiveGroupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, int frames)
    {
        var c = x.Shape[^1];
        var positions = (int)(x.ElementCount / x.Shape[0] / c);
        var xs = Naive.Values(x);
        var (g, b) = (Naive.Values(gamma), Naive.Values(beta));
        var y = new double[xs.Length];
        var perGroup = c / groups;
        for (var video = 0; video < x.Shape[0] / frames; video++)
        {
            for (var group = 0; group < groups; group++)
            {
                var members = new List<int>();
                for (var f = 0; f < frames; f++)
                {
                    for (var p = 0; p < positions; p++)
                    {
                        for (var ch = group * perGroup; ch < (group + 1) * perGroup; ch++)
                        {
                            members.Add(((((video * frames) + f) * positions) + p) * c + ch);
                        }
                    }
                }

                var mean = members.Average(i => xs[i]);
                var variance = members.Average(i => (xs[i] - mean) * (xs[i] - mean));
                foreach (var i in members)
                {
                    y[i] = ((xs[i] - mean) / Math.Sqrt(variance + eps) * g[i % c]) + b[i % c];
                }
            }
        }

        return y;
    }
}
