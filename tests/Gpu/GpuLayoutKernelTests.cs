using CudaI2V.Kernels.Cpu;
using CudaI2V.Kernels.Cuda;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Gpu;

/// <summary>
/// The layout ops (concatenation, frames/sequences, the edge conversions) as strided copies on a real GPU: bit for bit
/// the CPU reference's rearrangement of the same values (skipped without a GPU).
/// </summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuLayoutKernelTests
{
    private static readonly CpuOps Cpu = new();

    public static TheoryData<int, bool> ConcatAxes() => new() { { 3, false }, { 1, false }, { 0, false }, { 0, true }, { -1, true } };

    [Theory]
    [MemberData(nameof(ConcatAxes))]
    public void Concat_places_every_part_as_the_reference_does(int axis, bool forceKernel)
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        int[][] partDims = [[2, 7, 9, 5], [2, 7, 9, 5], [2, 7, 9, 5]];
        var grow = axis < 0 ? partDims[0].Length + axis : axis;
        partDims[1][grow] = 3;
        partDims[2][grow] = 1;
        var parts = partDims.Select((d, i) => GpuOpCheck.Rounded(GpuOpCheck.Uniform(80 + (ulong)i, 1f, 0f, d), DType.F16)).ToList();
        var expected = Cpu.Concat(parts, axis);
        var output = GpuOpCheck.Poisoned(gpu, scratch, DType.F16, [.. expected.Shape.Dims]);

        LayoutCopies.Run(gpu.Kernels, gpu.Stream, LayoutCopies.PlanConcat([.. parts.Select(p => GpuOpCheck.Upload(scratch, p, DType.F16))], axis, output, forceKernel));

        Tolerance.Exact.AssertClose(expected, scratch.Download(output).To(DType.F32), $"Concat on axis {axis}");
    }

    [Theory]
    [MemberData(nameof(GpuOpCheck.StorageTypes), MemberType = typeof(GpuOpCheck))]
    public void Frames_to_sequences_and_back_match_the_reference(DType dtype)
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var frames = GpuOpCheck.Rounded(GpuOpCheck.Uniform(84, 1f, 0f, 2 * 3, 7, 9, 5), dtype);
        var sequences = GpuOpCheck.Poisoned(gpu, scratch, dtype, 2 * 7 * 9, 3, 5);
        var back = GpuOpCheck.Poisoned(gpu, scratch, dtype, 2 * 3, 7, 9, 5);
        var single = GpuOpCheck.Poisoned(gpu, scratch, dtype, 7 * 9, 1, 5);

        LayoutCopies.Run(gpu.Kernels, gpu.Stream, LayoutCopies.PlanFramesToSequences(GpuOpCheck.Upload(scratch, frames, dtype), 3, sequences));
        LayoutCopies.Run(gpu.Kernels, gpu.Stream, LayoutCopies.PlanSequencesToFrames(sequences, 7, 9, back));
        LayoutCopies.Run(gpu.Kernels, gpu.Stream, LayoutCopies.PlanFramesToSequences(GpuOpCheck.Upload(scratch, frames.Slice(0, 0, 1), dtype), 1, single));

        Tolerance.Exact.AssertClose(Cpu.FramesToSequences(frames, 3), scratch.Download(sequences).To(DType.F32), "FramesToSequences");
        Tolerance.Exact.AssertClose(frames, scratch.Download(back).To(DType.F32), "SequencesToFrames");
        Tolerance.Exact.AssertClose(Cpu.FramesToSequences(frames.Slice(0, 0, 1).Contiguous(), 1), scratch.Download(single).To(DType.F32), "one frame");
    }

    [Theory]
    [MemberData(nameof(GpuOpCheck.StorageTypes), MemberType = typeof(GpuOpCheck))]
    public void Edge_conversions_match_the_reference(DType dtype)
    {
        var gpu = GpuProbe.Require();
        using var scratch = new DeviceScratch(gpu);
        var nchw = GpuOpCheck.Rounded(GpuOpCheck.Uniform(85, 1f, 0f, 2, 5, 7, 9), dtype);
        var ncfhw = GpuOpCheck.Rounded(GpuOpCheck.Uniform(86, 1f, 0f, 2, 3, 4, 7, 9), dtype);
        var nhwc = GpuOpCheck.Poisoned(gpu, scratch, dtype, 2, 7, 9, 5);
        var nchwBack = GpuOpCheck.Poisoned(gpu, scratch, dtype, 2, 5, 7, 9);
        var frames = GpuOpCheck.Poisoned(gpu, scratch, dtype, 8, 7, 9, 3);
        var ncfhwBack = GpuOpCheck.Poisoned(gpu, scratch, dtype, 2, 3, 4, 7, 9);

        LayoutCopies.Run(gpu.Kernels, gpu.Stream, LayoutCopies.PlanNchwToNhwc(GpuOpCheck.Upload(scratch, nchw, dtype), nhwc));
        LayoutCopies.Run(gpu.Kernels, gpu.Stream, LayoutCopies.PlanNhwcToNchw(nhwc, nchwBack));
        LayoutCopies.Run(gpu.Kernels, gpu.Stream, LayoutCopies.PlanNcfhwToNhwc(GpuOpCheck.Upload(scratch, ncfhw, dtype), frames));
        LayoutCopies.Run(gpu.Kernels, gpu.Stream, LayoutCopies.PlanNhwcToNcfhw(frames, 4, ncfhwBack));

        Tolerance.Exact.AssertClose(Cpu.NchwToNhwc(nchw), scratch.Download(nhwc).To(DType.F32), "NCHW -> NHWC");
        Tolerance.Exact.AssertClose(nchw, scratch.Download(nchwBack).To(DType.F32), "NHWC -> NCHW");
        Tolerance.Exact.AssertClose(Cpu.NcfhwToNhwc(ncfhw), scratch.Download(frames).To(DType.F32), "NCFHW -> NHWC");
        Tolerance.Exact.AssertClose(ncfhw, scratch.Download(ncfhwBack).To(DType.F32), "NHWC -> NCFHW");
    }
}
