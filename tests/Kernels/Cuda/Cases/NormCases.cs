using CudaI2V.Kernels.Cuda;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Kernels.Cuda.Cases.KernelCases;

namespace CudaI2V.Tests.Kernels.Cuda.Cases;

/// <summary>
/// GroupNorm, GroupNormSilu and LayerNorm (GroupNorm.cu, LayerNorm.cu): per image, across frames, fused SiLU, odd and
/// one-channel groups, tokens, forced statistics splits and capped grids, the (mean, rstd) a convolution will read,
/// statistics at a large offset, LayerNorm's rows of every width the models use, in place.
/// </summary>
internal static class NormCases
{
    public static IReadOnlyDictionary<string, KernelCase> All { get; } = Build();

    private static Dictionary<string, KernelCase> Build()
    {
        var cases = new Dictionary<string, KernelCase>();
        foreach (var dtype in StorageTypes)
        {
            var d = Short(dtype);
            cases[$"GroupNorm {d} 7x9 images"] = new GroupNormCase(dtype, [2, 7, 9, 12], 4);
            cases[$"GroupNormSilu {d} odd channels, 3 per group"] = new GroupNormCase(dtype, [2, 7, 9, 15], 5, Silu: true);
            cases[$"GroupNorm {d} groups of one channel"] = new GroupNormCase(dtype, [3, 5, 3, 6], 6);
            cases[$"GroupNormSilu {d} one group of 5 channels"] = new GroupNormCase(dtype, [3, 4, 4, 5], 1, Silu: true);
            cases[$"GroupNormSilu {d} two videos of three frames"] = new GroupNormCase(dtype, [6, 7, 9, 10], 2, Frames: 3, Silu: true);
            cases[$"GroupNorm {d} one frame"] = new GroupNormCase(dtype, [1, 7, 9, 8], 4);
            cases[$"GroupNorm {d} tokens (N, L, C), one video of four"] = new GroupNormCase(dtype, [4, 33, 40], 8, Frames: 4);
            cases[$"GroupNorm {d} 36,864 elements per statistic: several splits"] = new GroupNormCase(dtype, [2, 48, 48, 16], 2, Frames: 2);

            cases[$"LayerNorm {d} 77 rows of 33 channels"] = new LayerNormCase(dtype, [77, 33]);
            cases[$"LayerNorm {d} the UNet's widest rows"] = new LayerNormCase(dtype, [2, 9, 1280], Offset: 0.5f);
            cases[$"LayerNorm {d} one channel: the output is beta"] = new LayerNormCase(dtype, [3, 5, 1]);
            cases[$"LayerNorm {d} one row"] = new LayerNormCase(dtype, [1, 5]);
            cases[$"LayerNorm {d} offset far from the spread"] = new LayerNormCase(dtype, [13, 64], Offset: 20f);
        }

        // 2 statistics of 3 x 5 x 7 x 8 = 840 elements; 64 splits leave most blocks a dozen elements and some none.
        foreach (var splits in new[] { 1, 3, 7, 64 })
        {
            cases[$"GroupNorm f16 {splits} splits, 2 blocks"] =
                new GroupNormCase(DType.F16, [3, 5, 7, 16], 2, Frames: 3, Seed: 44, Spread: 2f, Offset: -0.5f, Splits: splits, MaxBlocks: 2);
        }

        // One video of 16 frames of 64 x 64 x 32 values around 1000 with spread 1: a sum of squares in fp32 would lose
        // every digit of the variance (1000^2 against 1/3); the shifted, merged moments keep it to fp32 precision. The
        // mean is stored in fp32: its rounding (up to 3e-5 at 1000) shifts every x - mean by that much, times rstd
        // (about 1.7) and |gamma| < 1, so outputs may differ from the double reference by up to about 6e-5.
        cases["GroupNorm f32 statistics at offset 1000 over a million elements per group"] = new GroupNormCase(
            DType.F32, [16, 64, 64, 32], 2, Frames: 16, Seed: 47, Spread: 1f, Offset: 1000f, Eps: 1e-6f,
            Statistics: new StatisticsBars(MeanAbsolute: 6.2e-5, MeanRelative: 0, RstdRelative: 1e-5), // one fp32 ulp at 1000 is 6.1e-5
            Output: new Tolerance(1e-4, 1e-5, 1e-8));
        cases["GroupNorm bf16 statistics alone, the mean and rstd a convolution reads"] = new GroupNormCase(
            DType.BF16, [4, 7, 9, 6], 3, Frames: 2, Seed: 50, Spread: 1f, Offset: 3f,
            Statistics: new StatisticsBars(MeanAbsolute: 0, MeanRelative: 1e-5, RstdRelative: 1e-5), StatisticsOnly: true);
        cases["LayerNorm f16 in place, a capped grid covers every row"] = new LayerNormCase(DType.F16, [1001, 40], Seed: 54, MaxBlocks: 3, InPlace: true);
        return cases;
    }
}

/// <summary>How close GroupNorm's stored (mean, rstd) must be to the double-precision statistics of the same values.</summary>
/// <param name="MeanAbsolute">Allowed |mean error|, plus <paramref name="MeanRelative"/> x |mean|.</param>
/// <param name="MeanRelative">Allowed mean error relative to |mean|.</param>
/// <param name="RstdRelative">Allowed |rstd / exact - 1|.</param>
internal sealed record StatisticsBars(double MeanAbsolute, double MeanRelative, double RstdRelative);

/// <summary>
/// A GroupNorm (or GroupNormSilu) of x uniform in [offset - spread, offset + spread) with gamma and beta from the next
/// two seeds, eps, and optionally forced splits, a capped grid, a check of the statistics in the workspace, or only
/// the statistics pass (<see cref="GroupNormKernel.PlanStatistics"/>).
/// </summary>
internal sealed record GroupNormCase(
    DType DType, int[] Dims, int Groups, int Frames = 1, bool Silu = false, ulong Seed = 41, float Spread = 1.5f, float Offset = 0.25f, float Eps = 1e-5f,
    int? Splits = null, int MaxBlocks = ElementwiseGrid.DefaultMaxBlocks, StatisticsBars? Statistics = null, bool StatisticsOnly = false, Tolerance? Output = null)
    : KernelCase
{
    public override void Run(IOpTestDevice device)
    {
        var c = Dims[^1];
        var x = Input(DType, Seed, Spread, Offset, Dims);
        var workspace = device.Poisoned(DType.F32, (int)GroupNormKernel.WorkspaceElements(x.Shape, Groups, Frames, Splits));
        var deviceX = device.Upload(x, DType);
        var what = $"GroupNorm {DType} {x.Shape} G={Groups} F={Frames} silu={Silu}";
        if (StatisticsOnly)
        {
            device.Launch(GroupNormKernel.PlanStatistics(deviceX, Groups, Eps, workspace, Frames, Splits));
        }
        else
        {
            var (gamma, beta) = (Rounded(new TestData(Seed + 1).Uniform(c), DType), Rounded(new TestData(Seed + 2).Uniform(c), DType));
            var y = device.Poisoned(DType, Dims);
            device.Launch(GroupNormKernel.Plan(deviceX, Groups, device.Upload(gamma, DType), device.Upload(beta, DType), Eps, Frames, Silu, workspace, y, Splits, MaxBlocks));
            var expected = Silu ? Cpu.GroupNormSilu(x, Groups, gamma, beta, Eps, Frames) : Cpu.GroupNorm(x, Groups, gamma, beta, Eps, Frames);
            (Output ?? For(DType)).AssertClose(expected, device.Floats(y), what);
        }

        if (Statistics is { } bars)
        {
            CheckStatistics(x, device.Floats(workspace).ToFloat32Array(), bars, what);
        }
    }

    private void CheckStatistics(Tensor x, float[] stats, StatisticsBars bars, string what)
    {
        var values = x.ToFloat32Array();
        var c = Dims[^1];
        var (videos, perVideo, perGroup) = (Dims[0] / Frames, values.Length / (Dims[0] / Frames), c / Groups);
        for (var video = 0; video < videos; video++)
        {
            for (var g = 0; g < Groups; g++)
            {
                var group = Enumerable.Range(video * perVideo, perVideo).Where(i => i % c / perGroup == g).Select(i => (double)values[i]).ToArray();
                var mean = group.Average();
                var rstd = 1 / Math.Sqrt(group.Select(v => (v - mean) * (v - mean)).Average() + Eps);
                var at = ((video * Groups) + g) * 2;
                Assert.True(Math.Abs(stats[at] - mean) <= bars.MeanAbsolute + (bars.MeanRelative * Math.Abs(mean)), $"{what}: video {video} group {g}: mean {stats[at]:R}, expected {mean:R}");
                Assert.True(Math.Abs((stats[at + 1] / rstd) - 1) <= bars.RstdRelative, $"{what}: video {video} group {g}: rstd {stats[at + 1]:R}, expected {rstd:R}");
            }
        }
    }
}

/// <summary>A LayerNorm of x uniform in [offset - 1, offset + 1) with gamma and beta from the next two seeds, optionally in place with a capped grid.</summary>
internal sealed record LayerNormCase(DType DType, int[] Dims, float Offset = 0f, ulong Seed = 51, int MaxBlocks = ElementwiseGrid.DefaultMaxBlocks, bool InPlace = false)
    : KernelCase
{
    public override void Run(IOpTestDevice device)
    {
        var c = Dims[^1];
        var x = Input(DType, Seed, 1f, Offset, Dims);
        var (gamma, beta) = (Rounded(new TestData(Seed + 1).Uniform(c), DType), Rounded(new TestData(Seed + 2).Uniform(c), DType));
        var deviceX = device.Upload(x, DType);
        var y = InPlace ? deviceX : device.Poisoned(DType, Dims);

        device.Launch(LayerNormKernel.Plan(deviceX, device.Upload(gamma, DType), device.Upload(beta, DType), 1e-5f, y, MaxBlocks));

        For(DType).AssertClose(Cpu.LayerNorm(x, gamma, beta, 1e-5f), device.Floats(y), $"LayerNorm {DType} {x.Shape}{(InPlace ? " in place" : "")}");
    }
}
