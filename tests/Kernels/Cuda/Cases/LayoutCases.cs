using CudaI2V.Kernels.Cuda;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Kernels.Cuda.Cases.KernelCases;

namespace CudaI2V.Tests.Kernels.Cuda.Cases;

/// <summary>
/// The layout ops as planned strided copies (<see cref="LayoutCopies"/>, CopyStrided.cu): concatenation on every
/// axis, frames to sequences and back (one frame too), the NCHW and NCFHW edge conversions, plain copies of permuted,
/// sliced and contiguous views by kernel and by memcpy, and convolution filters packed on the device. All bit for bit
/// the CPU reference's (or the host's) rearrangement of the same values.
/// </summary>
internal static class LayoutCases
{
    public static IReadOnlyDictionary<string, KernelCase> All { get; } = Build();

    private static Dictionary<string, KernelCase> Build()
    {
        var cases = new Dictionary<string, KernelCase>
        {
            ["Concat f16 last axis"] = new ConcatCase(3, ForceKernel: false),
            ["Concat f16 axis 1"] = new ConcatCase(1, ForceKernel: false),
            ["Concat f16 axis 0 by memcpy"] = new ConcatCase(0, ForceKernel: false),
            ["Concat f16 axis 0 by kernel"] = new ConcatCase(0, ForceKernel: true),
            ["Concat f16 axis -1 by kernel"] = new ConcatCase(-1, ForceKernel: true),
            ["Copy f16 of a permutation"] = new CopyCase(DType.F16, [2, 3, 4, 5], x => x.Permute(0, 3, 1, 2), Seed: 3),
            ["Copy f16 of a slice"] = new CopyCase(DType.F16, [2, 3, 4, 5], x => x.Slice(2, 1, 2), Seed: 3),
            ["Copy bf16 contiguous by memcpy"] = new CopyCase(DType.BF16, [33, 77], x => x, Seed: 4),
            ["Copy bf16 contiguous by kernel"] = new CopyCase(DType.BF16, [33, 77], x => x, Seed: 4, ForceKernel: true),
            ["Copy f32 of a transpose with odd sides"] = new CopyCase(DType.F32, [13, 7, 3], x => x.Permute(2, 1, 0), Seed: 5),
            ["Pack a bf16 3x3 filter of 5 input channels on the device"] = new PackCase(DType.BF16, [7, 5, 3, 3]),
            ["Pack an f16 temporal filter [6, 4, 3, 1, 1] on the device"] = new PackCase(DType.F16, [6, 4, 3, 1, 1]),
        };
        foreach (var dtype in StorageTypes)
        {
            var d = Short(dtype);
            cases[$"FramesToSequences {d} two videos of 3 frames of 7x9"] =
                new LayoutCase(dtype, [6, 7, 9, 5], [63 * 2, 3, 5], x => Cpu.FramesToSequences(x, 3), (x, y) => LayoutCopies.PlanFramesToSequences(x, 3, y), 84);
            cases[$"SequencesToFrames {d} back to 3 frames of 7x9"] =
                new LayoutCase(dtype, [63 * 2, 3, 5], [6, 7, 9, 5], x => Cpu.SequencesToFrames(x, 7, 9), (x, y) => LayoutCopies.PlanSequencesToFrames(x, 7, 9, y), 84);
            cases[$"FramesToSequences {d} one frame"] =
                new LayoutCase(dtype, [1, 7, 9, 5], [63, 1, 5], x => Cpu.FramesToSequences(x, 1), (x, y) => LayoutCopies.PlanFramesToSequences(x, 1, y), 84);
            cases[$"NchwToNhwc {d}"] = new LayoutCase(dtype, [2, 5, 7, 9], [2, 7, 9, 5], Cpu.NchwToNhwc, LayoutCopies.PlanNchwToNhwc, 85);
            cases[$"NhwcToNchw {d}"] = new LayoutCase(dtype, [2, 7, 9, 5], [2, 5, 7, 9], Cpu.NhwcToNchw, LayoutCopies.PlanNhwcToNchw, 85);
            cases[$"NcfhwToNhwc {d}"] = new LayoutCase(dtype, [2, 3, 4, 7, 9], [8, 7, 9, 3], Cpu.NcfhwToNhwc, LayoutCopies.PlanNcfhwToNhwc, 86);
            cases[$"NhwcToNcfhw {d}"] =
                new LayoutCase(dtype, [8, 7, 9, 3], [2, 3, 4, 7, 9], x => Cpu.NhwcToNcfhw(x, 4), (x, y) => LayoutCopies.PlanNhwcToNcfhw(x, 4, y), 86);
        }

        return cases;
    }
}

/// <summary>One layout op from x of <paramref name="Dims"/> into a new output of <paramref name="OutDims"/>, exactly the reference's.</summary>
internal sealed record LayoutCase(DType DType, int[] Dims, int[] OutDims, Func<Tensor, Tensor> Reference, Func<Tensor, Tensor, IKernelPlan> Plan, ulong Seed)
    : KernelCase
{
    public override void Run(IOpTestDevice device)
    {
        var x = Input(DType, Seed, 1f, 0f, Dims);
        var y = device.Poisoned(DType, OutDims);

        device.Launch(Plan(device.Upload(x, DType), y));

        Tolerance.Exact.AssertClose(Reference(x), device.Floats(y), $"{DType} {x.Shape} to {y.Shape}");
    }
}

/// <summary>
/// A concatenation of three fp16 parts of (2, 7, 9, 5) whose <paramref name="Axis"/> holds 5, 3 and 1, by the copies
/// the plan picks (a memcpy per part on axis 0) or by the kernel throughout.
/// </summary>
internal sealed record ConcatCase(int Axis, bool ForceKernel) : KernelCase
{
    public override void Run(IOpTestDevice device)
    {
        int[][] partDims = [[2, 7, 9, 5], [2, 7, 9, 5], [2, 7, 9, 5]];
        var grow = Axis < 0 ? partDims[0].Length + Axis : Axis;
        partDims[1][grow] = 3;
        partDims[2][grow] = 1;
        var parts = partDims.Select((d, i) => Input(DType.F16, 80 + (ulong)i, 1f, 0f, d)).ToList();
        var expected = Cpu.Concat(parts, Axis);
        var output = device.Poisoned(DType.F16, [.. expected.Shape.Dims]);

        device.Launch(LayoutCopies.PlanConcat([.. parts.Select(p => device.Upload(p, DType.F16))], Axis, output, ForceKernel));

        Tolerance.Exact.AssertClose(expected, device.Floats(output), $"Concat on axis {Axis}");
    }
}

/// <summary>A copy of a view of a device tensor into a new contiguous one (IOps.Copy), bit for bit the host's copy of the same view.</summary>
internal sealed record CopyCase(DType DType, int[] Dims, Func<Tensor, Tensor> View, ulong Seed, bool ForceKernel = false) : KernelCase
{
    public override void Run(IOpTestDevice device)
    {
        var host = new TestData(Seed).Uniform(Dims).To(DType);
        var source = View(device.Upload(host));
        var destination = device.Poisoned(DType, [.. source.Shape.Dims]);

        device.Launch(CopyStridedKernel.Plan(source, destination, ForceKernel));

        Assert.Equal(View(host).Contiguous().AsBytes().ToArray(), device.Download(destination).AsBytes().ToArray());
    }
}

/// <summary>A PyTorch-layout convolution filter packed on the device (<see cref="ConvWeights.PlanPack"/>), bit for bit the host packing.</summary>
internal sealed record PackCase(DType DType, int[] Dims) : KernelCase
{
    public override void Run(IOpTestDevice device)
    {
        var torch = new TestData(6).Uniform(Dims).To(DType);
        var expected = ConvWeights.PackOnHost(torch, DType);
        var packed = device.Poisoned(DType, [.. expected.Shape.Dims]);

        device.Launch(ConvWeights.PlanPack(device.Upload(torch), packed));

        Assert.Equal(expected.AsBytes().ToArray(), device.Download(packed).AsBytes().ToArray());
    }
}
