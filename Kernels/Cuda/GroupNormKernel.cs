using System.Runtime.InteropServices;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda;

/// <summary>The parameters of GroupNorm.cu's entry points (96 bytes; mirrors <c>struct GroupNormParams</c>).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct GroupNormParams
{
    /// <summary>Device address of x's element 0.</summary>
    public ulong X;

    /// <summary>Device address of the output's element 0 (0 when only statistics are planned).</summary>
    public ulong Y;

    /// <summary>Device address of gamma [C] (0 when only statistics are planned).</summary>
    public ulong Gamma;

    /// <summary>Device address of beta [C] (0 when only statistics are planned).</summary>
    public ulong Beta;

    /// <summary>Device address of the statistics, fp32 [videos * groups][2] = (mean, rstd).</summary>
    public ulong Stats;

    /// <summary>Device address of the partial moments, fp32 [videos * groups][splits][3] = (count, mean - shift, M2).</summary>
    public ulong Partials;

    /// <summary>Elements of one video (frames x positions x C).</summary>
    public long VideoElements;

    /// <summary>Elements of x.</summary>
    public long Count;

    /// <summary>C.</summary>
    public int Channels;

    /// <summary>G.</summary>
    public int Groups;

    /// <summary>C / G.</summary>
    public int GroupChannels;

    /// <summary>Elements of one (video, group).</summary>
    public int GroupElements;

    /// <summary>Blocks per (video, group) in the statistics pass.</summary>
    public int Splits;

    /// <summary>videos x G.</summary>
    public int StatCount;

    /// <summary>Added to the variance.</summary>
    public float Eps;

    /// <summary>1 to apply SiLU to the result.</summary>
    public int Silu;
}

/// <summary>
/// The launches of one GroupNorm: the statistics pass, the finalize that merges its partial moments into
/// (mean, rstd), and the apply pass (null when only the statistics are planned).
/// </summary>
/// <param name="Statistics">group_norm_stats_*: grid (videos * groups, splits).</param>
/// <param name="Finalize">group_norm_finalize_*: one warp per (video, group).</param>
/// <param name="Apply">group_norm_apply_*: grid-stride over every element, or null.</param>
public sealed record GroupNormPlan(
    KernelLaunch<GroupNormParams> Statistics,
    KernelLaunch<GroupNormParams> Finalize,
    KernelLaunch<GroupNormParams>? Apply) : IKernelPlan
{
    /// <inheritdoc/>
    public void EnqueueOn(ILaunchTarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        Statistics.EnqueueOn(target);
        Finalize.EnqueueOn(target);
        Apply?.EnqueueOn(target);
    }
}

/// <summary>
/// Launcher of GroupNorm.cu: <see cref="IOps.GroupNorm"/> and <see cref="IOps.GroupNormSilu"/> on channels-last device
/// tensors (fp32, fp16 or bf16; gamma and beta in x's dtype), statistics in fp32 per (video, group) where a video is
/// <c>frames</c> consecutive items. The caller provides the output and an F32 workspace of
/// <see cref="WorkspaceElements"/> elements; its first <c>2 * videos * groups</c> floats receive (mean, rstd) per
/// (video, group), index <c>(video * groups + group) * 2</c>, which a fused convolution prologue can read after
/// the launches of <see cref="PlanStatistics"/>.
/// </summary>
public static class GroupNormKernel
{
    /// <summary>The source file.</summary>
    public const string SourceFile = "GroupNorm.cu";

    /// <summary>Threads per block of the statistics pass (GN_THREADS in the source).</summary>
    public const int StatisticsThreads = 256;

    /// <summary>Elements one statistics block aims to take (32 per thread), which sets the number of splits.</summary>
    public const int ElementsPerBlock = 8192;

    /// <summary>The most blocks per (video, group): the grid's y limit.</summary>
    public const int MaxSplits = 65535;

    private const string Op = "GroupNorm";

    private const int WarpsPerFinalizeBlock = 8;

    /// <summary>The entry points this launcher uses.</summary>
    public static IReadOnlyList<string> EntryPoints { get; } =
    [
        "group_norm_stats_f32", "group_norm_stats_f16", "group_norm_stats_bf16",
        "group_norm_finalize_f32", "group_norm_finalize_f16", "group_norm_finalize_bf16",
        "group_norm_apply_f32", "group_norm_apply_f16", "group_norm_apply_bf16",
    ];

    /// <summary>The splits the statistics pass uses for a (video, group) of <paramref name="groupElements"/> elements.</summary>
    public static int Splits(long groupElements) =>
        (int)Math.Clamp((groupElements + ElementsPerBlock - 1) / ElementsPerBlock, 1, MaxSplits);

    /// <summary>
    /// F32 elements the workspace needs for x of <paramref name="shape"/>: (mean, rstd) for each (video, group), then three
    /// floats per split of each.
    /// </summary>
    public static long WorkspaceElements(TensorShape shape, int groups, int frames = 1, int? splits = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var (statCount, groupElements) = Layout(shape, groups, frames);
        return statCount * (2L + (3L * (splits ?? Splits(groupElements))));
    }

    /// <summary>
    /// Plans the statistics of <paramref name="x"/> into <paramref name="workspace"/> (statistics and finalize; no apply),
    /// or null when x has no element. <paramref name="splits"/> overrides the blocks per (video, group) (tests use it).
    /// </summary>
    public static GroupNormPlan? PlanStatistics(Tensor x, int groups, float eps, Tensor workspace, int frames = 1, int? splits = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        var suffix = ElementwiseGrid.Suffix(x.DType, nameof(x));
        var address = LaunchChecks.Device(Op, nameof(x), x);
        var (statCount, groupElements) = Layout(x.Shape, groups, frames);
        var blocks = splits ?? Splits(groupElements);
        if (blocks < 1 || blocks > MaxSplits)
        {
            throw new ArgumentOutOfRangeException(nameof(splits), blocks, $"{Op}: splits must be in [1, {MaxSplits}].");
        }

        var stats = LaunchChecks.Float32Buffer(Op, nameof(workspace), workspace, statCount * (2L + (3L * blocks)), $"statistics of x {x.Shape} in {groups} groups, {blocks} splits");
        if (x.ElementCount == 0)
        {
            return null;
        }

        var c = x.Shape[^1];
        var parameters = new GroupNormParams
        {
            X = address,
            Stats = stats,
            Partials = stats + (ulong)(statCount * 2 * sizeof(float)),
            VideoElements = x.ElementCount / (x.Shape[0] / frames),
            Count = x.ElementCount,
            Channels = c,
            Groups = groups,
            GroupChannels = c / groups,
            GroupElements = (int)groupElements,
            Splits = blocks,
            StatCount = (int)statCount,
            Eps = eps,
        };
        var statistics = new LaunchConfig(new Dim3((uint)statCount, (uint)blocks), new Dim3(StatisticsThreads));
        var finalizeBlocks = (uint)((statCount + WarpsPerFinalizeBlock - 1) / WarpsPerFinalizeBlock);
        var finalize = new LaunchConfig(new Dim3(finalizeBlocks), new Dim3(WarpsPerFinalizeBlock * 32));
        return new GroupNormPlan(
            new KernelLaunch<GroupNormParams>(SourceFile, $"group_norm_stats_{suffix}", statistics, parameters),
            new KernelLaunch<GroupNormParams>(SourceFile, $"group_norm_finalize_{suffix}", finalize, parameters),
            null);
    }

    /// <summary>
    /// Plans <c>y = GroupNorm(x)</c> (then SiLU when <paramref name="silu"/>): statistics into <paramref name="workspace"/>,
    /// then the apply into <paramref name="y"/> (x's dtype and shape; it may be x itself). Null when x has no element.
    /// </summary>
    public static GroupNormPlan? Plan(
        Tensor x,
        int groups,
        Tensor gamma,
        Tensor beta,
        float eps,
        int frames,
        bool silu,
        Tensor workspace,
        Tensor y,
        int? splits = null,
        int maxBlocks = ElementwiseGrid.DefaultMaxBlocks)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(gamma);
        ArgumentNullException.ThrowIfNull(beta);
        OpShapes.GroupNorm(x, groups, gamma, beta, frames);
        var c = x.Shape[^1];
        var gammaAddress = LaunchChecks.Exactly(Op, nameof(gamma), gamma, x.DType, new TensorShape(c));
        var betaAddress = LaunchChecks.Exactly(Op, nameof(beta), beta, x.DType, new TensorShape(c));
        var yAddress = LaunchChecks.Exactly(Op, nameof(y), y, x.DType, x.Shape);
        if (PlanStatistics(x, groups, eps, workspace, frames, splits) is not { } plan)
        {
            return null;
        }

        var parameters = plan.Statistics.Params with { Y = yAddress, Gamma = gammaAddress, Beta = betaAddress, Silu = silu ? 1 : 0 };
        var suffix = ElementwiseGrid.Suffix(x.DType, nameof(x));
        return new GroupNormPlan(
            plan.Statistics with { Params = parameters },
            plan.Finalize with { Params = parameters },
            new KernelLaunch<GroupNormParams>(SourceFile, $"group_norm_apply_{suffix}", ElementwiseGrid.For(x.ElementCount, maxBlocks), parameters));
    }

    /// <summary>Statistics count (videos x groups) and elements per (video, group), after checking the shape.</summary>
    private static (long StatCount, long GroupElements) Layout(TensorShape shape, int groups, int frames)
    {
        if (shape.Rank < 2)
        {
            throw OpShapes.Fail(Op, $"x must be (N, ..., C) of rank 2 or more, got {shape}.");
        }

        var c = shape[^1];
        if (groups < 1 || c % groups != 0)
        {
            throw OpShapes.Fail(Op, $"{c} channels of x {shape} do not split into {groups} groups.");
        }

        if (frames < 1 || shape[0] % frames != 0)
        {
            throw OpShapes.Fail(Op, $"{shape[0]} images of x {shape} are not a whole number of videos of {frames} frames.");
        }

        var videos = shape[0] / frames;
        var groupElements = videos == 0 ? 0 : shape.ElementCount / videos / groups;
        if (groupElements > int.MaxValue)
        {
            throw OpShapes.Fail(Op, $"one (video, group) of x {shape} with {frames} frames and {groups} groups spans {groupElements} elements; the kernel takes at most {int.MaxValue}.");
        }

        return ((long)videos * groups, groupElements);
    }
}
