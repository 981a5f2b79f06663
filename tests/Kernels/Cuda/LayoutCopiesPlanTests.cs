using CudaI2V.Kernels.Cpu;
using CudaI2V.Kernels.Cuda;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda;

/// <summary>
/// The layout ops planned as strided copies against fake device storage: which views are copied where (merged shapes
/// and strides, slice offsets, memcpy for contiguous placements), and the refusals. Also the host-computed timestep
/// features, which the GPU receives by upload.
/// </summary>
public sealed class LayoutCopiesPlanTests
{
    [Fact]
    public void Concat_on_the_last_axis_copies_each_part_into_its_columns()
    {
        var device = new FakeDevice();
        var (a, b) = (device.Make(DType.F16, 2, 3, 4, 5), device.Make(DType.F16, 2, 3, 4, 7));
        var output = device.Make(DType.F16, 2, 3, 4, 12);

        var copies = LayoutCopies.PlanConcat([a, b], -1, output).Copies;

        Assert.Equal(2, copies.Count);
        var first = copies[0].Plan.Launch!.Value.Params;
        Assert.Equal((FakeDevice.Address(0), FakeDevice.Address(2), 2), (first.Source, first.Destination, first.Rank));
        Assert.Equal([24L, 5], ((ReadOnlySpan<long>)first.Shape)[..2].ToArray());
        Assert.Equal([5L, 1], ((ReadOnlySpan<long>)first.SourceStrides)[..2].ToArray());
        Assert.Equal([12L, 1], ((ReadOnlySpan<long>)first.DestinationStrides)[..2].ToArray());
        var second = copies[1].Plan.Launch!.Value.Params;
        Assert.Equal(FakeDevice.Address(2) + (5 * 2), second.Destination); // after the first part's 5 channels
        Assert.Equal([24L, 7], ((ReadOnlySpan<long>)second.Shape)[..2].ToArray());
        Assert.Equal("copy_strided_f16", copies[1].Plan.Launch!.Value.Entry);
    }

    [Fact]
    public void Concat_on_axis_0_is_one_memcpy_per_part_unless_the_kernel_is_forced()
    {
        var device = new FakeDevice();
        var (a, b) = (device.Make(DType.BF16, 1, 3, 4), device.Make(DType.BF16, 2, 3, 4));
        var output = device.Make(DType.BF16, 3, 3, 4);

        var copies = LayoutCopies.PlanConcat([a, b], 0, output).Copies;
        var forced = LayoutCopies.PlanConcat([a, b], 0, output, forceKernel: true).Copies;

        Assert.Equal(
            [new DeviceMemcpy(FakeDevice.Address(2), FakeDevice.Address(0), 24), new DeviceMemcpy(FakeDevice.Address(2) + 24, FakeDevice.Address(1), 48)],
            copies.Select(c => c.Plan.Memcpy));
        Assert.All(copies, c => Assert.Null(c.Plan.Launch));
        Assert.Equal(FakeDevice.Address(2) + 24, copies[1].Destination.DeviceAddress());
        Assert.All(forced, c => Assert.NotNull(c.Plan.Launch));
    }

    [Fact]
    public void Frames_and_sequences_are_one_permutation_apart()
    {
        var device = new FakeDevice();
        var frames = device.Make(DType.F16, 6, 2, 3, 4); // 2 videos of 3 frames, 2x3 pixels, 4 channels
        var sequences = device.Make(DType.F16, 12, 3, 4);

        var toSequences = LayoutCopies.PlanFramesToSequences(frames, 3, sequences).Plan.Launch!.Value.Params;
        var toFrames = LayoutCopies.PlanSequencesToFrames(sequences, 2, 3, frames).Plan.Launch!.Value.Params;

        Assert.Equal(4, toSequences.Rank);
        Assert.Equal([2L, 6, 3, 4], ((ReadOnlySpan<long>)toSequences.Shape)[..4].ToArray());
        Assert.Equal([72L, 4, 24, 1], ((ReadOnlySpan<long>)toSequences.SourceStrides)[..4].ToArray());
        Assert.Equal([72L, 12, 4, 1], ((ReadOnlySpan<long>)toSequences.DestinationStrides)[..4].ToArray());
        Assert.Equal([2L, 3, 6, 4], ((ReadOnlySpan<long>)toFrames.Shape)[..4].ToArray());
        Assert.Equal([72L, 4, 12, 1], ((ReadOnlySpan<long>)toFrames.SourceStrides)[..4].ToArray());
        Assert.Equal([72L, 24, 4, 1], ((ReadOnlySpan<long>)toFrames.DestinationStrides)[..4].ToArray());
    }

    [Fact]
    public void Edge_conversions_plan_transposes_into_outputs_of_the_converted_shape()
    {
        var device = new FakeDevice();
        var nchw = device.Make(DType.F32, 2, 5, 3, 4);
        var nhwc = device.Make(DType.F32, 2, 3, 4, 5);
        var ncfhw = device.Make(DType.F32, 2, 5, 3, 2, 2);
        var frames = device.Make(DType.F32, 6, 2, 2, 5);

        Assert.NotNull(LayoutCopies.PlanNchwToNhwc(nchw, nhwc).Plan.Launch);
        Assert.NotNull(LayoutCopies.PlanNhwcToNchw(nhwc, nchw).Plan.Launch);
        Assert.NotNull(LayoutCopies.PlanNcfhwToNhwc(ncfhw, frames).Plan.Launch);
        Assert.NotNull(LayoutCopies.PlanNhwcToNcfhw(frames, 3, ncfhw).Plan.Launch);
        Assert.Equal(new TensorShape(2, 3, 2, 2, 5), LayoutCopies.PlanNcfhwToNhwc(ncfhw, frames).Destination.Shape);
    }

    [Fact]
    public void Layout_ops_refuse_wrong_outputs_mixed_dtypes_strided_inputs_and_overlap()
    {
        var device = new FakeDevice();
        var x = device.Make(DType.F16, 2, 3, 4, 5);

        string Refusal(Func<object> plan) => Assert.ThrowsAny<ArgumentException>(plan).Message;

        Assert.Contains("output must be F16 [2, 5, 3, 4], got F16 [2, 3, 4, 5]", Refusal(() => LayoutCopies.PlanNhwcToNchw(x, device.Make(DType.F16, 2, 3, 4, 5))), StringComparison.Ordinal);
        Assert.Contains("parts[1] is F32 [2, 3, 4, 5]; the output is F16 [2, 3, 4, 10]", Refusal(() => LayoutCopies.PlanConcat([x, device.Make(DType.F32, 2, 3, 4, 5)], 3, device.Make(DType.F16, 2, 3, 4, 10))), StringComparison.Ordinal);
        Assert.Contains("along axis 3, [2, 3, 5, 5] does not fit [2, 3, 4, 5]", Refusal(() => LayoutCopies.PlanConcat([x, device.Make(DType.F16, 2, 3, 5, 5)], 3, device.Make(DType.F16, 2, 3, 4, 10))), StringComparison.Ordinal);
        Assert.Contains("contiguous", Refusal(() => LayoutCopies.PlanFramesToSequences(device.Make(DType.F16, 2, 3, 5, 4).Permute(0, 1, 3, 2), 1, device.Make(DType.F16, 24, 1, 5))), StringComparison.Ordinal);
        Assert.Contains("not a whole number of videos of 3 frames", Refusal(() => LayoutCopies.PlanNhwcToNcfhw(x, 3, device.Make(DType.F16, 1, 5, 2, 3, 4))), StringComparison.Ordinal);
        Assert.Contains("overlap in memory", Refusal(() => LayoutCopies.PlanNhwcToNchw(x, x.Reshape(2, 5, 3, 4))), StringComparison.Ordinal);
        Assert.Contains("overlap in memory", Refusal(() => LayoutCopies.PlanConcat([x], 0, x)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void Timestep_features_for_the_gpu_are_the_references_values_rounded_once(DType dtype)
    {
        float[] timesteps = [999f, 500f, 1f, 0f, 16f];

        var onHost = TimestepFeaturesUpload.OnHost(timesteps, 320, flipSinToCos: true, 0f, 10000f, dtype);

        var reference = new CpuOps().TimestepFeatures(timesteps, 320, true, 0f, 10000f).To(dtype);
        Assert.Equal(dtype, onHost.DType);
        Assert.Equal(reference.Shape, onHost.Shape);
        Assert.Equal(reference.AsBytes().ToArray(), onHost.AsBytes().ToArray());
        Assert.Throws<ArgumentException>(() => TimestepFeaturesUpload.OnHost(timesteps, 320, true, 0f, 10000f, DType.I64));
    }
}
