using CudaI2V.Kernels.Cuda;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Kernels.Cuda.Cases.KernelCases;

namespace CudaI2V.Tests.Kernels.Cuda.Cases;

/// <summary>
/// UpsampleNearest (exactly the reference's pixels) and AdaptiveAvgPool2d (Resample.cu) in every storage dtype:
/// doubling, odd skips, shrinking and the same size; uneven, overlapping and global windows, more outputs than inputs.
/// </summary>
internal static class ResampleCases
{
    public static IReadOnlyDictionary<string, KernelCase> All { get; } = Build();

    private static Dictionary<string, KernelCase> Build()
    {
        var cases = new Dictionary<string, KernelCase>();
        foreach (var dtype in StorageTypes)
        {
            var d = Short(dtype);
            cases[$"UpsampleNearest {d} 7x9 doubled"] = new NearestCase(dtype, 14, 18);
            cases[$"UpsampleNearest {d} 7x9 to 13x18, an odd skip"] = new NearestCase(dtype, 13, 18);
            cases[$"UpsampleNearest {d} 7x9 shrunk to 4x3"] = new NearestCase(dtype, 4, 3);
            cases[$"UpsampleNearest {d} 7x9 to the same size"] = new NearestCase(dtype, 7, 9);
            cases[$"AdaptiveAvgPool2d {d} uneven windows"] = new PoolCase(dtype, [2, 7, 9, 3], 3, 4);
            cases[$"AdaptiveAvgPool2d {d} overlapping windows (13 to 7)"] = new PoolCase(dtype, [1, 13, 18, 5], 7, 9);
            cases[$"AdaptiveAvgPool2d {d} global average"] = new PoolCase(dtype, [2, 4, 4, 3], 1, 1);
            cases[$"AdaptiveAvgPool2d {d} more outputs than inputs"] = new PoolCase(dtype, [1, 3, 3, 2], 5, 5);
            cases[$"AdaptiveAvgPool2d {d} identity"] = new PoolCase(dtype, [2, 5, 5, 4], 5, 5);
        }

        return cases;
    }
}

/// <summary>UpsampleNearest of (2, 7, 9, 3) to (OH, OW): a bit-exact copy of the reference's pixels.</summary>
internal sealed record NearestCase(DType DType, int OutHeight, int OutWidth) : KernelCase
{
    public override void Run(IOpTestDevice device)
    {
        var x = Input(DType, 70, 1f, 0f, 2, 7, 9, 3);
        var y = device.Poisoned(DType, 2, OutHeight, OutWidth, 3);

        device.Launch(ResampleKernel.PlanNearest(device.Upload(x, DType), y));

        Tolerance.Exact.AssertClose(Cpu.UpsampleNearest(x, OutHeight, OutWidth), device.Floats(y), $"nearest 7x9 -> {OutHeight}x{OutWidth}");
    }
}

/// <summary>AdaptiveAvgPool2d of x of <paramref name="Dims"/> to (OH, OW).</summary>
internal sealed record PoolCase(DType DType, int[] Dims, int OutHeight, int OutWidth) : KernelCase
{
    public override void Run(IOpTestDevice device)
    {
        var x = Input(DType, 71, 1f, 0f, Dims);
        var y = device.Poisoned(DType, Dims[0], OutHeight, OutWidth, Dims[3]);

        device.Launch(ResampleKernel.PlanPool(device.Upload(x, DType), y));

        For(DType).AssertClose(Cpu.AdaptiveAvgPool2d(x, OutHeight, OutWidth), device.Floats(y), $"pool {x.Shape} -> {OutHeight}x{OutWidth}");
    }
}
