using CudaI2V.Kernels;
using CudaI2V.Kernels.Cuda;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Kernels.Cuda;
using CudaI2V.Tests.Kernels.Cuda.Emulation;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Gpu;

/// <summary>
/// Every entry point of Im2col.cu, GemmEpilogue.cu and Softmax.cu (f32 ones included, which the ops do not use) launched
/// alone on a GPU, against the host mirror of the kernel that <see cref="EmulatedDevice"/> runs: bit for bit for the
/// gather and the epilogue (the same fp32 additions in the same order, one round-to-nearest-even), within a rounding
/// for the softmax (expf against MathF.Exp). Capped grids check the grid-stride loops. Skipped without a GPU.
/// </summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuGemmKernelTests
{
    public static TheoryData<DType, ConvWeightLayout, int> Im2colCases() => new()
    {
        { DType.F32, ConvWeightLayout.Packed, 4096 }, { DType.F16, ConvWeightLayout.Packed, 4096 }, { DType.BF16, ConvWeightLayout.Packed, 4096 },
        { DType.F32, ConvWeightLayout.Torch, 4096 }, { DType.F16, ConvWeightLayout.Torch, 4096 }, { DType.BF16, ConvWeightLayout.Torch, 2 },
    };

    public static TheoryData<DType> FloatTypes() => [DType.F32, DType.F16, DType.BF16];

    [Theory]
    [MemberData(nameof(Im2colCases))]
    public void Im2col_matches_its_host_mirror_bit_for_bit(DType dtype, ConvWeightLayout order, int maxBlocks)
    {
        using var gpu = new GpuOpDevice();
        using var host = new EmulatedDevice();
        var x = new TestData(61).Uniform(2, 13, 18, 5).To(dtype);

        // 13x18 with a 3x3 stride-2 kernel padded (0, 1, 0, 1) gives 6x9 per image; rows 77..96 cross into image 1.
        Tensor Run(IOpTestDevice device)
        {
            var columns = device.Empty(dtype, 20, 45);
            device.Poison(columns);
            var launch = Im2colKernel.Plan(device.Upload(x), columns, 3, 3, 2, new Padding2D(0, 1, 0, 1), order, 77, maxBlocks)!.Value;
            device.Launch(launch);
            return device.Download(columns);
        }

        Assert.Equal(Run(host).AsBytes().ToArray(), Run(gpu).AsBytes().ToArray());
    }

    [Theory]
    [MemberData(nameof(FloatTypes))]
    public void Epilogue_matches_its_host_mirror_bit_for_bit(DType dtype)
    {
        using var gpu = new GpuOpDevice();
        using var host = new EmulatedDevice();
        var data = new TestData(62);
        var accumulator = Tensor.FromSpan<float>(data.Floats(30 * 7, 50f), new TensorShape(30, 7));
        var (bias, rows, residual) = (data.Uniform(7).To(dtype), data.Uniform(4, 7).To(dtype), data.Uniform(30, 7).To(dtype));

        Tensor Run(IOpTestDevice device, bool withAll, int maxBlocks)
        {
            var destination = device.Empty(dtype, 30, 7);
            device.Poison(destination);
            var launch = GemmEpilogueKernel.Plan(
                device.Upload(accumulator), destination, withAll ? device.Upload(bias) : null, withAll ? device.Upload(rows) : null, withAll ? device.Upload(residual) : null,
                rowBegin: 90, groupRows: 30, maxBlocks)!.Value;
            device.Launch(launch);
            return device.Download(destination);
        }

        Assert.Equal(Run(host, true, 4096).AsBytes().ToArray(), Run(gpu, true, 4096).AsBytes().ToArray());
        Assert.Equal(Run(host, false, 1).AsBytes().ToArray(), Run(gpu, false, 1).AsBytes().ToArray());
    }

    [Theory]
    [MemberData(nameof(FloatTypes))]
    public void Softmax_matches_its_host_mirror_and_rows_sum_to_one(DType dtype)
    {
        using var gpu = new GpuOpDevice();
        using var host = new EmulatedDevice();
        // fp32: expf within 2 ulp of MathF.Exp, and the row sum of up to 14,080 terms added in another order (lane
        // partials, then a tree). fp16/bf16: those, then possibly one rounding apart (1e-7 covers an fp16 subnormal ulp).
        var (tolerance, sumError) = dtype switch
        {
            DType.F32 => (new Tolerance(1e-9, 2e-5, 1e-9), 1e-5),
            DType.F16 => (new Tolerance(1e-7, 1.0 / 1024, 1e-6), 2e-3),
            _ => (new Tolerance(1e-6, 1.0 / 128, 1e-4), 1e-2),
        };
        foreach (var (rows, cols, maxBlocks) in new[] { (15, 37, 4096), (1, 14_080, 4096), (1000, 3, 2) })
        {
            var scores = Tensor.FromSpan<float>(new TestData(63).Floats(rows * cols, 8f), new TensorShape(rows, cols));

            Tensor Run(IOpTestDevice device)
            {
                var probabilities = device.Empty(dtype, rows, cols);
                device.Poison(probabilities);
                var launch = SoftmaxKernel.Plan(device.Upload(scores), probabilities, 0.3f, maxBlocks)!.Value;
                device.Launch(launch);
                return device.Download(probabilities);
            }

            var actual = Run(gpu);
            tolerance.AssertClose(Run(host), actual, $"softmax {dtype} {rows}x{cols}");
            var p = actual.ToFloat32Array();
            for (var r = 0; r < rows; r++)
            {
                var sum = p.AsSpan(r * cols, cols).ToArray().Sum(v => (double)v);
                Assert.True(Math.Abs(sum - 1) <= sumError, $"row {r} of {cols} sums to {sum}"); // each rounding is relative to its p
            }
        }
    }
}
