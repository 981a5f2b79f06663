using CudaI2V.Runtime.Blas;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Gpu;

/// <summary>cuBLAS and cuBLASLt GEMMs against a double-precision CPU product of the same rounded inputs (skipped without a GPU).</summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuGemmTests
{
    /// <summary>
    /// fp32 output: only fp32 accumulation error over K of at most a few hundred unit-scale products (fp32 inputs too:
    /// cuBLAS computes them in true fp32, not TF32).
    /// fp16/bf16 output: one final rounding (2^-11 and 2^-8 relative) on top, plus that error.
    /// </summary>
    private static Tolerance For(DType output) => output switch
    {
        DType.F32 => new Tolerance(1e-4, 1e-4, 1e-9),
        DType.F16 => new Tolerance(2e-3, 2e-3, 1e-6),
        _ => new Tolerance(2e-2, 1e-2, 1e-4),
    };

    /// <summary>C[b, m, n] = sum_k op(A)[b, m, k] op(B)[b, k, n] in double, from the inputs' stored values; 2-D operands repeat over the batch.</summary>
    private static double[] Reference(Tensor a, Tensor b, int batch, int m, int n, int k, bool transposeA, bool transposeB, float[]? bias = null)
    {
        var (av, bv) = (a.ToFloat32Array(), b.ToFloat32Array());
        var (aBatch, bBatch) = (a.Shape.Rank == 3 ? m * k : 0, b.Shape.Rank == 3 ? k * n : 0);
        var c = new double[batch * m * n];
        for (var i = 0; i < batch; i++)
        {
            for (var row = 0; row < m; row++)
            {
                for (var col = 0; col < n; col++)
                {
                    double sum = bias?[col] ?? 0;
                    for (var p = 0; p < k; p++)
                    {
                        var x = av[(i * aBatch) + (transposeA ? (p * m) + row : (row * k) + p)];
                        var y = bv[(i * bBatch) + (transposeB ? (col * k) + p : (p * n) + col)];
                        sum += (double)x * y;
                    }

                    c[(i * m * n) + (row * n) + col] = sum;
                }
            }
        }

        return c;
    }

    public static TheoryData<DType, DType, bool, bool> Cases() => new()
    {
        { DType.F16, DType.F16, false, false },
        { DType.F16, DType.F32, false, true },
        { DType.F16, DType.F16, true, false },
        { DType.BF16, DType.BF16, true, true },
        { DType.BF16, DType.F32, false, false },
        { DType.F32, DType.F32, true, false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Cublas_matches_the_cpu_product(DType input, DType output, bool transposeA, bool transposeB)
    {
        var gpu = GpuProbe.RequireCublas();
        using var scratch = new DeviceScratch(gpu);
        using var gemm = new CublasGemm(gpu.Stream);
        const int M = 37, N = 53, K = 70;
        var data = new TestData(21);
        var hostA = (transposeA ? data.Uniform(K, M) : data.Uniform(M, K)).To(input);
        var hostB = (transposeB ? data.Uniform(N, K) : data.Uniform(K, N)).To(input);
        var c = scratch.Empty(output, M, N);

        gemm.MatMul(scratch.Upload(hostA), scratch.Upload(hostB), c, transposeA, transposeB);

        For(output).AssertClose(Reference(hostA, hostB, 1, M, N, K, transposeA, transposeB), scratch.Download(c), $"{input}->{output} T{transposeA}{transposeB}");
    }

    [Fact]
    public void Cublas_batches_with_strides_and_repeats_a_2d_operand()
    {
        var gpu = GpuProbe.RequireCublas();
        using var scratch = new DeviceScratch(gpu);
        using var gemm = new CublasGemm(gpu.Stream);
        var data = new TestData(22);
        var hostA = data.Uniform(5, 16, 64).To(DType.F16);
        var hostB = data.Uniform(64, 24).To(DType.F16);
        var c = scratch.Empty(DType.F32, 5, 16, 24);

        gemm.MatMul(scratch.Upload(hostA), scratch.Upload(hostB), c, alpha: 1f);

        For(DType.F32).AssertClose(Reference(hostA, hostB, 5, 16, 24, 64, false, false), scratch.Download(c));
    }

    [Theory]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    [InlineData(DType.F32)]
    public void CublasLt_linear_adds_the_bias_in_its_epilogue(DType dtype)
    {
        var gpu = GpuProbe.RequireCublas();
        using var scratch = new DeviceScratch(gpu);
        using var gemm = new CublasLtGemm(gpu.Stream);
        const int M = 40, N = 72, K = 96;
        var data = new TestData(23);
        var x = data.Uniform(M, K).To(dtype);
        var weight = data.Uniform(N, K).To(dtype);
        var bias = data.Uniform(N).To(dtype);
        var y = scratch.Empty(dtype, M, N);

        gemm.Linear(scratch.Upload(x), scratch.Upload(weight), scratch.Upload(bias), y);
        var first = scratch.Download(y);
        gemm.Linear(scratch.Upload(x), scratch.Upload(weight), scratch.Upload(bias), y); // the cached plan

        var expected = Reference(x, weight, 1, M, N, K, false, true, bias.ToFloat32Array());
        For(dtype).AssertClose(expected, first, $"{dtype} linear");
        Assert.Equal(first.AsBytes().ToArray(), scratch.Download(y).AsBytes().ToArray());
    }

    [Fact]
    public void CublasLt_batches_without_a_bias()
    {
        var gpu = GpuProbe.RequireCublas();
        using var scratch = new DeviceScratch(gpu);
        using var gemm = new CublasLtGemm(gpu.Stream);
        var data = new TestData(24);
        var q = data.Uniform(6, 16, 64).To(DType.F16);
        var k = data.Uniform(6, 20, 64).To(DType.F16);
        var scores = scratch.Empty(DType.F32, 6, 16, 20);

        gemm.MatMul(scratch.Upload(q), scratch.Upload(k), scores, bias: null, transposeB: true);

        For(DType.F32).AssertClose(Reference(q, k, 6, 16, 20, 64, false, true), scratch.Download(scores));
    }

    [Fact]
    public void A_captured_gemm_replays_to_the_same_result()
    {
        var gpu = GpuProbe.RequireCublas();
        using var scratch = new DeviceScratch(gpu);
        using var cublas = new CublasGemm(gpu.Stream);
        using var lt = new CublasLtGemm(gpu.Stream);
        var data = new TestData(25);
        var a = scratch.Upload(data.Uniform(128, 256).To(DType.F16));
        var b = scratch.Upload(data.Uniform(256, 64).To(DType.F16));
        var w = scratch.Upload(data.Uniform(32, 64).To(DType.F16));
        var bias = scratch.Upload(data.Uniform(32).To(DType.F16));
        var c = scratch.Empty(DType.F16, 128, 64);
        var d = scratch.Empty(DType.F16, 128, 32);
        void Work(CudaStream stream)
        {
            cublas.MatMul(a, b, c); // c = a b
            lt.Linear(c, w, bias, d); // d = c w^T + bias
        }

        Work(gpu.Stream); // direct; also makes cuBLASLt's plan, which must not happen during a capture
        byte[] Bytes() => [.. scratch.Download(c).AsBytes(), .. scratch.Download(d).AsBytes()];
        var direct = Bytes();
        DeviceMemory.SetBytesAsync(gpu.Stream, c.DeviceAddress(), 0, c.ByteLength);
        DeviceMemory.SetBytesAsync(gpu.Stream, d.DeviceAddress(), 0, d.ByteLength);

        using var graph = CudaGraph.Capture(gpu.Stream, Work);
        Assert.All(Bytes(), v => Assert.Equal(0, v)); // capturing ran nothing
        graph.Launch(gpu.Stream);

        Assert.Equal(direct, Bytes());
    }
}
