using CudaI2V.Kernels.Cpu;
using CudaI2V.Kernels.Cuda;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Gpu;

/// <summary>
/// GroupNorm (per image, across frames, fused SiLU, forced splits, the statistics a convolution will read) and
/// LayerNorm on a real GPU against CpuOps on the same rounded inputs (skipped without a GPU).
/// </summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuNormKernelTests
{
    private static readonly CpuOps Cpu = new();

    public static TheoryData<DType, int[], int, int, bool> GroupNormCases()
    {
        var data = new TheoryData<DType, int[], int, int, bool>();
        foreach (var dtype in new[] { DType.F32, DType.F16, DType.BF16 })
        {
            data.Add(dtype, [2, 7, 9, 12], 4, 1, false);   // 7x9 images
            data.Add(dtype, [2, 7, 9, 15], 5, 1, true);    // odd channels, 3 per group, SiLU
            data.Add(dtype, [3, 5, 3, 6], 6, 1, false);    // groups of one channel
            data.Add(dtype, [3, 4, 4, 5], 1, 1, true);     // one group of an odd channel count
            data.Add(dtype, [6, 7, 9, 10], 2, 3, true);    // two videos of three frames
            data.Add(dtype, [1, 7, 9, 8], 4, 1, false);    // one frame
            data.Add(dtype, [4, 33, 40], 8, 4, false);     // tokens (N, L, C), one video of four
            data.Add(dtype, [2, 48, 48, 16], 2, 2, false); // 36,864 elements per statistic: several splits
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(GroupNormCases))]
    public void GroupNorm_matches_the_cpu_reference(DType dtype, int[] dims, int groups, int frames, bool silu)
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var c = dims[^1];
        var x = GpuOpCheck.Rounded(GpuOpCheck.Uniform(41, 1.5f, 0.25f, dims), dtype);
        var (gamma, beta) = (GpuOpCheck.Rounded(new TestData(42).Uniform(c), dtype), GpuOpCheck.Rounded(new TestData(43).Uniform(c), dtype));
        var workspace = scratch.Empty(DType.F32, (int)GroupNormKernel.WorkspaceElements(x.Shape, groups, frames));
        var y = GpuOpCheck.Poisoned(gpu, scratch, dtype, dims);

        GroupNormKernel.Run(
            gpu.Kernels, gpu.Stream, GpuOpCheck.Upload(scratch, x, dtype), groups, GpuOpCheck.Upload(scratch, gamma, dtype), GpuOpCheck.Upload(scratch, beta, dtype), 1e-5f, frames, silu, workspace, y);

        var expected = silu ? Cpu.GroupNormSilu(x, groups, gamma, beta, 1e-5f, frames) : Cpu.GroupNorm(x, groups, gamma, beta, 1e-5f, frames);
        GpuOpCheck.For(dtype).AssertClose(expected, scratch.Download(y).To(DType.F32), $"GroupNorm {dtype} {x.Shape} G={groups} F={frames} silu={silu}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(64)]
    public void GroupNorm_gives_the_reference_however_the_statistics_are_split(int splits)
    {
        // 2 statistics of 3 x 5 x 7 x 8 = 840 elements; 64 splits leave most blocks a dozen elements and some none.
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var x = GpuOpCheck.Rounded(GpuOpCheck.Uniform(44, 2f, -0.5f, 3, 5, 7, 16), DType.F16);
        var (gamma, beta) = (GpuOpCheck.Rounded(new TestData(45).Uniform(16), DType.F16), GpuOpCheck.Rounded(new TestData(46).Uniform(16), DType.F16));
        var workspace = scratch.Empty(DType.F32, (int)GroupNormKernel.WorkspaceElements(x.Shape, 2, 3, splits));
        var y = GpuOpCheck.Poisoned(gpu, scratch, DType.F16, 3, 5, 7, 16);

        var plan = GroupNormKernel.Plan(
            GpuOpCheck.Upload(scratch, x, DType.F16), 2, GpuOpCheck.Upload(scratch, gamma, DType.F16), GpuOpCheck.Upload(scratch, beta, DType.F16), 1e-5f, 3, false, workspace, y, splits, maxBlocks: 2)!;
        GroupNormKernel.Launch(gpu.Kernels, gpu.Stream, plan);

        GpuOpCheck.For(DType.F16).AssertClose(Cpu.GroupNorm(x, 2, gamma, beta, 1e-5f, 3), scratch.Download(y).To(DType.F32), $"{splits} splits");
    }

    [Fact]
    public void GroupNorm_statistics_survive_a_large_offset_over_a_million_elements_per_group()
    {
        // One video of 16 frames of 64 x 64 x 32 values around 1000 with spread 1: a sum of squares in fp32 would lose
        // every digit of the variance (1000^2 against 1/3); the shifted, merged moments keep it to fp32 precision.
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var x = GpuOpCheck.Uniform(47, 1f, 1000f, 16, 64, 64, 32);
        var (gamma, beta) = (new TestData(48).Uniform(32), new TestData(49).Uniform(32));
        var workspace = scratch.Empty(DType.F32, (int)GroupNormKernel.WorkspaceElements(x.Shape, 2, 16));
        var y = GpuOpCheck.Poisoned(gpu, scratch, DType.F32, 16, 64, 64, 32);

        GroupNormKernel.Run(gpu.Kernels, gpu.Stream, scratch.Upload(x), 2, scratch.Upload(gamma), scratch.Upload(beta), 1e-6f, 16, false, workspace, y);

        var values = x.ToFloat32Array();
        var stats = scratch.Floats(workspace);
        for (var g = 0; g < 2; g++)
        {
            var group = values.Where((_, i) => i % 32 / 16 == g).Select(v => (double)v).ToArray();
            var mean = group.Average();
            var rstd = 1 / Math.Sqrt(group.Select(v => (v - mean) * (v - mean)).Average() + 1e-6f);
            Assert.True(Math.Abs(stats[2 * g] - mean) <= 6.2e-5, $"group {g}: mean {stats[2 * g]:R}, expected {mean:R} (one fp32 ulp at 1000 is 6.1e-5)");
            Assert.True(Math.Abs((stats[(2 * g) + 1] / rstd) - 1) <= 1e-5, $"group {g}: rstd {stats[(2 * g) + 1]:R}, expected {rstd:R}");
        }

        // The mean is stored in fp32: its rounding (up to 3e-5 at 1000) shifts every x - mean by that much, times
        // rstd (about 1.7) and |gamma| < 1, so outputs may differ from the double reference by up to about 6e-5.
        new Tolerance(1e-4, 1e-5, 1e-8).AssertClose(Cpu.GroupNorm(x, 2, gamma, beta, 1e-6f, 16), scratch.Download(y), "GroupNorm at offset 1000");
    }

    [Fact]
    public void GroupNorm_statistics_alone_fill_the_mean_and_rstd_a_convolution_reads()
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var x = GpuOpCheck.Rounded(GpuOpCheck.Uniform(50, 1f, 3f, 4, 7, 9, 6), DType.BF16);
        var workspace = GpuOpCheck.Poisoned(gpu, scratch, DType.F32, (int)GroupNormKernel.WorkspaceElements(x.Shape, 3, 2));

        GroupNormKernel.RunStatistics(gpu.Kernels, gpu.Stream, GpuOpCheck.Upload(scratch, x, DType.BF16), 3, 1e-5f, workspace, frames: 2);

        var values = x.ToFloat32Array();
        var stats = scratch.Floats(workspace);
        for (var video = 0; video < 2; video++)
        {
            for (var g = 0; g < 3; g++)
            {
                var group = Enumerable.Range(video * 2 * 7 * 9 * 6, 2 * 7 * 9 * 6).Where(i => i % 6 / 2 == g).Select(i => (double)values[i]).ToArray();
                var mean = group.Average();
                var rstd = 1 / Math.Sqrt(group.Select(v => (v - mean) * (v - mean)).Average() + 1e-5f);
                var at = ((video * 3) + g) * 2;
                Assert.True(Math.Abs(stats[at] - mean) <= 1e-5 * Math.Abs(mean), $"video {video} group {g}: mean {stats[at]:R}, expected {mean:R}");
                Assert.True(Math.Abs((stats[at + 1] / rstd) - 1) <= 1e-5, $"video {video} group {g}: rstd {stats[at + 1]:R}, expected {rstd:R}");
            }
        }
    }

    public static TheoryData<DType, int[], float> LayerNormCases()
    {
        var data = new TheoryData<DType, int[], float>();
        foreach (var dtype in new[] { DType.F32, DType.F16, DType.BF16 })
        {
            data.Add(dtype, [77, 33], 0f);        // rows not a multiple of 8, channels not of 32
            data.Add(dtype, [2, 9, 1280], 0.5f);  // the UNet's widest rows
            data.Add(dtype, [3, 5, 1], 0f);       // one channel: zero variance, the output is beta
            data.Add(dtype, [1, 5], 0f);          // one row
            data.Add(dtype, [13, 64], 20f);       // an offset far from the spread
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(LayerNormCases))]
    public void LayerNorm_matches_the_cpu_reference(DType dtype, int[] dims, float offset)
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var c = dims[^1];
        var x = GpuOpCheck.Rounded(GpuOpCheck.Uniform(51, 1f, offset, dims), dtype);
        var (gamma, beta) = (GpuOpCheck.Rounded(new TestData(52).Uniform(c), dtype), GpuOpCheck.Rounded(new TestData(53).Uniform(c), dtype));
        var y = GpuOpCheck.Poisoned(gpu, scratch, dtype, dims);

        LayerNormKernel.Run(gpu.Kernels, gpu.Stream, GpuOpCheck.Upload(scratch, x, dtype), GpuOpCheck.Upload(scratch, gamma, dtype), GpuOpCheck.Upload(scratch, beta, dtype), 1e-5f, y);

        GpuOpCheck.For(dtype).AssertClose(Cpu.LayerNorm(x, gamma, beta, 1e-5f), scratch.Download(y).To(DType.F32), $"LayerNorm {dtype} {x.Shape}");
    }

    [Fact]
    public void LayerNorm_in_place_with_a_capped_grid_covers_every_row()
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var x = GpuOpCheck.Rounded(GpuOpCheck.Uniform(54, 1f, 0f, 1001, 40), DType.F16);
        var (gamma, beta) = (GpuOpCheck.Rounded(new TestData(55).Uniform(40), DType.F16), GpuOpCheck.Rounded(new TestData(56).Uniform(40), DType.F16));
        var device = GpuOpCheck.Upload(scratch, x, DType.F16);

        gpu.Kernels.Launch(LayerNormKernel.SourceFile, LayerNormKernel.Plan(device, GpuOpCheck.Upload(scratch, gamma, DType.F16), GpuOpCheck.Upload(scratch, beta, DType.F16), 1e-5f, device, maxBlocks: 3)!.Value, gpu.Stream);

        GpuOpCheck.For(DType.F16).AssertClose(Cpu.LayerNorm(x, gamma, beta, 1e-5f), scratch.Download(device).To(DType.F32), "LayerNorm in place");
    }
}
