using CudaI2V.Kernels.Cuda;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Runtime.Blas;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda.Emulation;

/// <summary>
/// Host mirrors of what the GEMM-based ops run: Im2col.cu, GemmEpilogue.cu and Softmax.cu (element type and variant
/// taken from the entry name, as the GPU would), and the GEMMs as the <see cref="GemmProblem"/> a step hands cuBLAS
/// describes them (leading dimensions, batch strides, transposes), with fp64 accumulation and one rounding to C's dtype.
/// </summary>
internal static class GemmEmulation
{
    public static void Im2col(EmulatedMemory memory, string entry, Im2colParams p)
    {
        var dtype = ElementwiseEmulation.SuffixType(entry);
        // im2col_hwcv_ moves the hwc order's elements 16 bytes at a time: the same values, so the same mirror.
        var channelsFirst = entry.StartsWith("im2col_chw_", StringComparison.Ordinal);
        Assert.True(channelsFirst || entry.StartsWith("im2col_hwc_", StringComparison.Ordinal) || entry.StartsWith("im2col_hwcv_", StringComparison.Ordinal), entry);
        var (src, dst) = (memory.At(p.Source, dtype), memory.At(p.Destination, dtype));
        var patch = (long)p.KernelHeight * p.KernelWidth * p.Channels;
        for (long i = 0; i < p.Rows * patch; i++)
        {
            var (r, k) = (i / patch, (int)(i % patch));
            var m = p.RowBegin + r;
            var ox = (int)(m % p.OutWidth);
            var oy = (int)(m / p.OutWidth % p.OutHeight);
            var n = m / p.OutWidth / p.OutHeight;
            int ci, ky, kx;
            if (channelsFirst)
            {
                (kx, ky, ci) = (k % p.KernelWidth, k / p.KernelWidth % p.KernelHeight, k / (p.KernelWidth * p.KernelHeight));
            }
            else
            {
                (ci, kx, ky) = (k % p.Channels, k / p.Channels % p.KernelWidth, k / p.Channels / p.KernelWidth);
            }

            var (iy, ix) = ((oy * p.Stride) - p.PadTop + ky, (ox * p.Stride) - p.PadLeft + kx);
            if (iy >= 0 && iy < p.Height && ix >= 0 && ix < p.Width)
            {
                src.Raw((((((n * p.Height) + iy) * p.Width) + ix) * p.Channels) + ci).CopyTo(dst.Raw(i));
            }
            else
            {
                dst.Raw(i).Clear();
            }
        }
    }

    public static void Epilogue(EmulatedMemory memory, string entry, GemmEpilogueParams p)
    {
        var dtype = ElementwiseEmulation.SuffixType(entry);
        var (accumulator, destination) = (memory.At(p.Accumulator, DType.F32), memory.At(p.Destination, dtype));
        for (long i = 0; i < p.Rows * p.Cols; i++)
        {
            var (r, c) = (i / p.Cols, i % p.Cols);
            var y = accumulator[i];
            if (p.Bias != 0)
            {
                y += memory.At(p.Bias, dtype)[c];
            }

            if (p.RowAdd != 0)
            {
                y += memory.At(p.RowAdd, dtype)[((p.RowBegin + r) / p.GroupRows * p.Cols) + c];
            }

            if (p.Residual != 0)
            {
                y += memory.At(p.Residual, dtype)[i];
            }

            destination[i] = y;
        }
    }

    public static void Softmax(EmulatedMemory memory, string entry, SoftmaxParams p)
    {
        var (scores, probabilities) = (memory.At(p.Scores, DType.F32), memory.At(p.Probabilities, ElementwiseEmulation.SuffixType(entry)));
        for (long row = 0; row < p.Rows; row++)
        {
            var x = new float[p.Cols];
            for (var j = 0; j < p.Cols; j++)
            {
                x[j] = scores[(row * p.Cols) + j] * p.Scale;
            }

            var max = x.Max();
            var sum = x.Sum(v => MathF.Exp(v - max));
            var inverse = 1f / sum;
            for (var j = 0; j < p.Cols; j++)
            {
                probabilities[(row * p.Cols) + j] = MathF.Exp(x[j] - max) * inverse;
            }
        }
    }

    public static void Gemm(EmulatedMemory memory, GemmStep step)
    {
        var p = step.Problem;
        Assert.False(p.TransposeA);
        Assert.True(step.Engine == GemmEngine.CublasLt || step.Bias is null, "cuBLAS steps have no bias");
        var (a, b, c) = (memory.At(step.A.DeviceAddress(), p.A.DType), memory.At(step.B.DeviceAddress(), p.B.DType), memory.At(step.C.DeviceAddress(), p.C.DType));
        Elements? bias = step.Bias is null ? null : memory.At(step.Bias.DeviceAddress(), p.C.DType);
        Assert.True(step.Engine == GemmEngine.CublasLt || step.Addend is null, "cuBLAS steps have no separate addend");
        var addend = step.Addend is null ? c : memory.At(step.Addend.DeviceAddress(), p.C.DType); // C's layout (checked by CublasLtGemm)
        for (var batch = 0; batch < p.Batch; batch++)
        {
            for (var i = 0; i < p.M; i++)
            {
                for (var j = 0; j < p.N; j++)
                {
                    var sum = 0.0;
                    for (var k = 0; k < p.K; k++)
                    {
                        var x = a[(batch * p.A.BatchStride) + (i * p.A.LeadingDimension) + k];
                        var y = b[(batch * p.B.BatchStride) + (p.TransposeB ? (j * p.B.LeadingDimension) + k : (k * p.B.LeadingDimension) + j)];
                        sum += (double)x * y;
                    }

                    var index = (batch * p.C.BatchStride) + (i * p.C.LeadingDimension) + j;
                    var result = (float)sum;
                    if (step.Beta != 0)
                    {
                        result += step.Beta * addend[index];
                    }

                    if (bias is { } added)
                    {
                        result += added[j];
                    }

                    c[index] = result;
                }
            }
        }
    }
}
