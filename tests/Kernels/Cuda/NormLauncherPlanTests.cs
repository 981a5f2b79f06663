using CudaI2V.Kernels.Cuda;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda;

/// <summary>
/// GroupNorm and LayerNorm launchers planned against fake device storage: entries by dtype, grids, splits and the
/// workspace layout, packed parameters, the statistics-only plan, and every refusal with the shapes it shows.
/// </summary>
public sealed class NormLauncherPlanTests
{
    public static TheoryData<DType, string> Suffixes() => new() { { DType.F32, "f32" }, { DType.F16, "f16" }, { DType.BF16, "bf16" } };

    [Theory]
    [MemberData(nameof(Suffixes))]
    public void GroupNorm_per_image_picks_the_entries_of_the_dtype_and_packs_the_layout(DType dtype, string suffix)
    {
        var device = new FakeDevice();
        var x = device.Make(dtype, 2, 3, 5, 12);
        var (gamma, beta, workspace, y) = (device.Make(dtype, 12), device.Make(dtype, 12), device.Make(DType.F32, 64), device.Make(dtype, 2, 3, 5, 12));

        var plan = GroupNormKernel.Plan(x, 4, gamma, beta, 1e-5f, frames: 1, silu: false, workspace, y)!;

        Assert.Equal($"group_norm_stats_{suffix}", plan.Statistics.Entry);
        Assert.Equal($"group_norm_finalize_{suffix}", plan.Finalize.Entry);
        Assert.Equal($"group_norm_apply_{suffix}", plan.Apply!.Value.Entry);
        var p = plan.Apply.Value.Params;
        Assert.Equal((FakeDevice.Address(0), FakeDevice.Address(4), FakeDevice.Address(1), FakeDevice.Address(2)), (p.X, p.Y, p.Gamma, p.Beta));
        Assert.Equal(FakeDevice.Address(3), p.Stats);
        Assert.Equal(FakeDevice.Address(3) + (8 * 2 * sizeof(float)), p.Partials); // 2 images x 4 groups, then the partials
        Assert.Equal((180L, 360L, 12, 4, 3, 45, 1, 8), (p.VideoElements, p.Count, p.Channels, p.Groups, p.GroupChannels, p.GroupElements, p.Splits, p.StatCount));
        Assert.Equal((1e-5f, 0), (p.Eps, p.Silu));
        Assert.Equal(new LaunchConfig(new Dim3(8, 1), new Dim3(256)), plan.Statistics.Config);
        Assert.Equal(new LaunchConfig(new Dim3(1), new Dim3(256)), plan.Finalize.Config);
        Assert.Equal(new LaunchConfig(new Dim3(2), new Dim3(256)), plan.Apply.Value.Config);
        Assert.Equal(p, plan.Statistics.Params);
        Assert.Equal(p, plan.Finalize.Params);
    }

    [Fact]
    public void GroupNorm_across_frames_takes_a_video_per_statistic_and_silu_is_a_flag()
    {
        var device = new FakeDevice();
        var x = device.Make(DType.F16, 6, 2, 2, 8); // 2 videos of 3 frames
        var (gamma, beta, workspace) = (device.Make(DType.F16, 8), device.Make(DType.F16, 8), device.Make(DType.F32, 20));

        var p = GroupNormKernel.Plan(x, 2, gamma, beta, 1e-6f, frames: 3, silu: true, workspace, x)!.Apply!.Value.Params;

        Assert.Equal((96L, 48, 4, 1), (p.VideoElements, p.GroupElements, p.StatCount, p.Silu));
        Assert.Equal(p.X, p.Y); // in place is allowed
        Assert.Equal(20, GroupNormKernel.WorkspaceElements(x.Shape, 2, frames: 3)); // 4 x (2 + 3 x 1 split)
    }

    [Fact]
    public void GroupNorm_splits_large_groups_and_the_split_count_can_be_forced()
    {
        Assert.Equal(1, GroupNormKernel.Splits(1));
        Assert.Equal(1, GroupNormKernel.Splits(GroupNormKernel.ElementsPerBlock));
        Assert.Equal(2, GroupNormKernel.Splits(GroupNormKernel.ElementsPerBlock + 1));
        Assert.Equal(GroupNormKernel.MaxSplits, GroupNormKernel.Splits(int.MaxValue));

        var device = new FakeDevice();
        var x = device.Make(DType.BF16, 2, 64, 64, 4); // one group of 16384 elements per image: 2 splits
        var workspace = device.Make(DType.F32, 2 * (2 + (3 * 7)));
        var byDefault = GroupNormKernel.PlanStatistics(x, 1, 1e-5f, device.Make(DType.F32, 16))!;
        var forced = GroupNormKernel.PlanStatistics(x, 1, 1e-5f, workspace, splits: 7)!;

        Assert.Equal(new Dim3(2, 2), byDefault.Statistics.Config.Grid);
        Assert.Equal(new Dim3(2, 7), forced.Statistics.Config.Grid);
        Assert.Equal(7, forced.Statistics.Params.Splits);
        Assert.Equal(46, GroupNormKernel.WorkspaceElements(x.Shape, 1, splits: 7));
    }

    [Fact]
    public void GroupNorm_statistics_alone_plan_no_apply_and_no_output()
    {
        var device = new FakeDevice();
        var x = device.Make(DType.F16, 4, 3, 16);

        var plan = GroupNormKernel.PlanStatistics(x, 8, 1e-6f, device.Make(DType.F32, 4 * 8 * 5))!;

        Assert.Null(plan.Apply);
        Assert.Equal((0UL, 0UL, 0UL), (plan.Statistics.Params.Y, plan.Statistics.Params.Gamma, plan.Statistics.Params.Beta));
        Assert.Equal(new Dim3(32, 1), plan.Statistics.Config.Grid);
        Assert.Equal(new Dim3(4), plan.Finalize.Config.Grid); // 32 statistics, 8 warps per block
    }

    [Fact]
    public void GroupNorm_of_an_empty_tensor_launches_nothing()
    {
        var device = new FakeDevice();
        var x = device.Make(DType.F16, 2, 0, 4);
        Assert.Null(GroupNormKernel.Plan(x, 2, device.Make(DType.F16, 4), device.Make(DType.F16, 4), 1e-5f, 1, false, device.Make(DType.F32, 20), device.Make(DType.F16, 2, 0, 4)));
    }

    [Fact]
    public void GroupNorm_refuses_what_does_not_fit_showing_the_shapes()
    {
        var device = new FakeDevice();
        var x = device.Make(DType.F16, 4, 3, 12);
        var (gamma, beta, workspace, y) = (device.Make(DType.F16, 12), device.Make(DType.F16, 12), device.Make(DType.F32, 1000), device.Make(DType.F16, 4, 3, 12));

        string Refusal(Action plan) => Assert.ThrowsAny<ArgumentException>(plan).Message;

        Assert.Contains("12 channels of x [4, 3, 12] do not split into 5 groups", Refusal(() => GroupNormKernel.Plan(x, 5, gamma, beta, 1e-5f, 1, false, workspace, y)), StringComparison.Ordinal);
        Assert.Contains("4 images of x [4, 3, 12] are not a whole number of videos of 3 frames", Refusal(() => GroupNormKernel.Plan(x, 4, gamma, beta, 1e-5f, 3, false, workspace, y)), StringComparison.Ordinal);
        Assert.Contains("gamma must be F16 [12], got F32 [12]", Refusal(() => GroupNormKernel.Plan(x, 4, device.Make(DType.F32, 12), beta, 1e-5f, 1, false, workspace, y)), StringComparison.Ordinal);
        Assert.Contains("y must be F16 [4, 3, 12], got F16 [4, 36]", Refusal(() => GroupNormKernel.Plan(x, 4, gamma, beta, 1e-5f, 1, false, workspace, device.Make(DType.F16, 4, 36))), StringComparison.Ordinal);
        Assert.Contains("workspace must be an F32 tensor of at least 80 elements", Refusal(() => GroupNormKernel.Plan(x, 4, gamma, beta, 1e-5f, 1, false, device.Make(DType.F32, 79), y)), StringComparison.Ordinal);
        Assert.Contains("workspace must be an F32 tensor", Refusal(() => GroupNormKernel.Plan(x, 4, gamma, beta, 1e-5f, 1, false, device.Make(DType.F16, 1000), y)), StringComparison.Ordinal);
        Assert.Contains("contiguous", Refusal(() => GroupNormKernel.Plan(device.Make(DType.F16, 4, 12, 3).Permute(0, 2, 1), 4, gamma, beta, 1e-5f, 1, false, workspace, y)), StringComparison.Ordinal);
        Assert.Contains("host memory", Refusal(() => GroupNormKernel.PlanStatistics(Tensor.Zeros(DType.F16, new TensorShape(4, 12)), 4, 1e-5f, workspace)), StringComparison.Ordinal);
        Assert.Contains("rank 2 or more", Refusal(() => GroupNormKernel.PlanStatistics(device.Make(DType.F16, 12), 4, 1e-5f, workspace)), StringComparison.Ordinal);
        Assert.Contains("splits must be in [1, 65535]", Refusal(() => GroupNormKernel.PlanStatistics(x, 4, 1e-5f, workspace, splits: 0)), StringComparison.Ordinal);
        Assert.Contains("I32", Refusal(() => GroupNormKernel.PlanStatistics(device.Make(DType.I32, 4, 12), 4, 1e-5f, workspace)), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Suffixes))]
    public void LayerNorm_takes_a_warp_per_row_and_packs_its_parameters(DType dtype, string suffix)
    {
        var device = new FakeDevice();
        var x = device.Make(dtype, 7, 11, 33);
        var (gamma, beta, y) = (device.Make(dtype, 33), device.Make(dtype, 33), device.Make(dtype, 7, 11, 33));

        var launch = LayerNormKernel.Plan(x, gamma, beta, 1e-6f, y)!.Value;

        Assert.Equal($"layer_norm_{suffix}", launch.Entry);
        Assert.Equal(new LaunchConfig(new Dim3(10), new Dim3(256)), launch.Config); // 77 rows, 8 per block
        var p = launch.Params;
        Assert.Equal((FakeDevice.Address(0), FakeDevice.Address(3), FakeDevice.Address(1), FakeDevice.Address(2)), (p.X, p.Y, p.Gamma, p.Beta));
        Assert.Equal((77L, 33, 1e-6f), (p.Rows, p.Channels, p.Eps));
    }

    [Fact]
    public void LayerNorm_caps_its_grid_and_the_blocks_loop_over_rows()
    {
        var device = new FakeDevice();
        var x = device.Make(DType.F16, 1000, 4);
        var launch = LayerNormKernel.Plan(x, device.Make(DType.F16, 4), device.Make(DType.F16, 4), 1e-5f, x, maxBlocks: 3)!.Value;
        Assert.Equal(new Dim3(3), launch.Config.Grid);
        Assert.Null(LayerNormKernel.Plan(device.Make(DType.F16, 0, 4), device.Make(DType.F16, 4), device.Make(DType.F16, 4), 1e-5f, device.Make(DType.F16, 0, 4)));
    }

    [Fact]
    public void LayerNorm_refuses_mismatched_parameters_and_outputs()
    {
        var device = new FakeDevice();
        var x = device.Make(DType.F16, 5, 8);
        var (gamma, beta) = (device.Make(DType.F16, 8), device.Make(DType.F16, 8));

        Assert.Contains("gamma must be [8], got [7]", Assert.Throws<ArgumentException>(() => LayerNormKernel.Plan(x, device.Make(DType.F16, 7), beta, 1e-5f, x)).Message, StringComparison.Ordinal);
        Assert.Contains("beta must be F16 [8], got BF16 [8]", Assert.Throws<ArgumentException>(() => LayerNormKernel.Plan(x, gamma, device.Make(DType.BF16, 8), 1e-5f, x)).Message, StringComparison.Ordinal);
        Assert.Contains("y must be F16 [5, 8], got F32 [5, 8]", Assert.Throws<ArgumentException>(() => LayerNormKernel.Plan(x, gamma, beta, 1e-5f, device.Make(DType.F32, 5, 8))).Message, StringComparison.Ordinal);
    }
}
