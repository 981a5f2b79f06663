using System.Diagnostics.CodeAnalysis;
using CudaI2V.Kernels;
using CudaI2V.Kernels.Cpu;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Kernels.Cuda.Cases;

/// <summary>
/// The GEMM-based ops (convolution, temporal convolution, linear, attention) on awkward sizes, held to
/// <see cref="CpuOps"/> on the same rounded inputs. Each case runs on an <see cref="IOpTestDevice"/>: emulated on this
/// machine (<see cref="GemmOpEmulationTests"/>: the plans, views and chunking) and on a GPU (<c>GpuGemmOpTests</c>: the
/// kernels and cuBLAS too). Outputs and workspaces are poisoned with NaN first, so an element no step writes (or a
/// workspace region read before it is written) shows up as a mismatch.
/// </summary>
/// <remarks>
/// Tolerances. The CPU backend computes in fp32 from exactly the values the device holds (inputs rounded to the
/// storage type first), so the device's only extra errors are: (1) each output's rounding to the storage type,
/// |e| &lt;= 2^-11 |y| in fp16 (2^-8 in bf16), the epilogues adding bias, per-image row and residual to the fp32 sum
/// before that one rounding; (2) fp32 accumulation in another order, about K * 2^-24 times the sum of |terms|: under
/// 1e-5 of the output scale for the K &lt;= 600 unit-scale terms here; (3) in attention, P rounded to the storage type
/// before P V (as in any fp16 attention that feeds cuBLAS): at most 2^-11 * max|v| absolute. Hence elementwise
/// relative 1e-3 in fp16 (twice bound 1; 8e-3 in bf16) plus absolute 1e-4 x max|expected| for (2) and values near zero
/// (attention: 1e-3 x max|v|, twice bound 3; bf16 8e-3), and the single-op figure max_abs / max|expected|
/// &lt;= 5e-3 (bf16 2e-2: three fewer mantissa bits, one rounding is already 3.9e-3 relative).
/// In fp32 (the VAE's <c>force_upcast</c> backend) both sides compute in fp32 from the same values and nothing is rounded
/// to a narrower type, not even P: only (2) and the final rounding remain, so the bar is <see cref="Tolerance.Fp32"/>'s
/// 1e-5 (absolute as a fraction of max|expected|, or of max|v| for attention) and max_rel 1e-4. A TF32 GEMM (10-bit
/// mantissa inputs, about 5e-4 relative per product) would fail it: that is deliberate.
/// </remarks>
internal static class GemmOpCases
{
    private static readonly CpuOps Cpu = new();

    public sealed record ConvCase(
        ulong Seed, int N, int H, int W, int Cin, int Cout, int Kh, int Kw, int Stride, Padding2D Padding, bool Bias, bool PerImage, bool Residual,
        ConvWeightLayout Layout, DType DType = DType.F16, long MaxChunkRows = int.MaxValue, bool ForceIm2col = false, bool ResidualInPlace = false,
        int WorkspaceRows = 0);

    public sealed record TemporalCase(
        ulong Seed, int Videos, int Frames, int H, int W, int Cin, int Cout, int Kt, bool Bias, bool Residual, ConvWeightLayout Layout,
        DType DType = DType.F16, long MaxChunkRows = int.MaxValue, bool ResidualInPlace = false);

    public sealed record LinearCase(
        ulong Seed, int[] XDims, int Out, bool Bias, bool Residual, LinearPath Path, bool ExpectFused, DType DType = DType.F16,
        long MaxChunkRows = int.MaxValue, bool ResidualInPlace = false, bool Misaligned = false);

    /// <summary>An attention; with <paramref name="KvGroup"/> above 1, k and v have B / KvGroup sequences, each shared by that many consecutive sequences of q.</summary>
    public sealed record AttentionCase(
        ulong Seed, int B, int Lq, int Lk, int Heads, int D, DType DType = DType.F16, int MaxImages = GemmSoftmaxAttentionOp.DefaultMaxImages,
        int MaxQueries = int.MaxValue, int WorkspaceQueryRows = 0, float LogitScale = 1f, int KvGroup = 1);

    public static Dictionary<string, ConvCase> Conv { get; } = new()
    {
        ["3x3 s1 p1 13x18 all addends torch"] = new(1, 2, 13, 18, 5, 7, 3, 3, 1, Padding2D.All(1), true, true, true, ConvWeightLayout.Torch),
        ["3x3 s1 p1 13x18 all addends packed"] = new(1, 2, 13, 18, 5, 7, 3, 3, 1, Padding2D.All(1), true, true, true, ConvWeightLayout.Packed),
        ["3x3 s2 p1 13x18 to 7x9"] = new(3, 2, 13, 18, 3, 6, 3, 3, 2, Padding2D.All(1), true, false, false, ConvWeightLayout.Packed),
        ["3x3 s2 pad (0,1,0,1) 13x18 to 6x9"] = new(4, 1, 13, 18, 4, 5, 3, 3, 2, new Padding2D(0, 1, 0, 1), true, false, true, ConvWeightLayout.Torch),
        ["2x3 kernel pad (1,0,2,1)"] = new(5, 2, 6, 7, 3, 4, 2, 3, 1, new Padding2D(1, 0, 2, 1), true, true, false, ConvWeightLayout.Torch),
        ["1x1 direct"] = new(6, 2, 7, 9, 9, 5, 1, 1, 1, Padding2D.None, true, false, true, ConvWeightLayout.Packed),
        ["1x1 forced im2col"] = new(6, 2, 7, 9, 9, 5, 1, 1, 1, Padding2D.None, true, false, true, ConvWeightLayout.Torch, ForceIm2col: true),
        ["4x4 patch s4 16x20 to 4x5"] = new(7, 2, 16, 20, 3, 8, 4, 4, 4, Padding2D.None, true, false, false, ConvWeightLayout.Packed),
        ["one image 1 to 3 channels no bias"] = new(8, 1, 5, 6, 1, 3, 3, 3, 1, Padding2D.All(1), false, false, false, ConvWeightLayout.Torch),
        ["bf16 3x3 all addends"] = new(9, 2, 9, 10, 6, 5, 3, 3, 1, Padding2D.All(1), true, true, true, ConvWeightLayout.Packed, DType.BF16),
        ["chunks of 17 rows all addends"] = new(1, 2, 13, 18, 5, 7, 3, 3, 1, Padding2D.All(1), true, true, true, ConvWeightLayout.Packed, MaxChunkRows: 17),
        ["workspace of 3 rows torch"] = new(1, 2, 13, 18, 5, 7, 3, 3, 1, Padding2D.All(1), true, true, true, ConvWeightLayout.Torch, WorkspaceRows: 3),
        ["residual in place chunks of 50"] = new(10, 2, 8, 5, 4, 6, 3, 3, 1, Padding2D.All(1), true, true, true, ConvWeightLayout.Packed, MaxChunkRows: 50, ResidualInPlace: true),
        ["1x1 direct chunks of 11 bf16"] = new(11, 3, 5, 5, 7, 3, 1, 1, 1, Padding2D.None, true, true, true, ConvWeightLayout.Torch, DType.BF16, MaxChunkRows: 11),
        ["3x3 packed 16 channels, 16-byte gather, chunks of 37"] = new(15, 2, 11, 14, 16, 24, 3, 3, 1, Padding2D.All(1), true, true, true, ConvWeightLayout.Packed, MaxChunkRows: 37),
        ["bf16 3x3 s2 packed 8 channels, 16-byte gather"] = new(16, 1, 12, 9, 8, 5, 3, 3, 2, Padding2D.All(1), true, false, false, ConvWeightLayout.Packed, DType.BF16),
        ["fp32 3x3 packed 12 channels, 16-byte gather"] = new(17, 2, 7, 10, 12, 6, 3, 3, 1, Padding2D.All(1), true, false, true, ConvWeightLayout.Packed, DType.F32),
        ["fp32 3x3 all addends packed chunks of 17"] = new(12, 2, 13, 18, 5, 7, 3, 3, 1, Padding2D.All(1), true, true, true, ConvWeightLayout.Packed, DType.F32, MaxChunkRows: 17),
        ["fp32 3x3 s2 pad (0,1,0,1) torch"] = new(13, 1, 13, 18, 4, 5, 3, 3, 2, new Padding2D(0, 1, 0, 1), true, false, true, ConvWeightLayout.Torch, DType.F32),
        ["fp32 1x1 direct residual in place"] = new(14, 2, 7, 9, 9, 5, 1, 1, 1, Padding2D.None, true, false, true, ConvWeightLayout.Torch, DType.F32, ResidualInPlace: true),
    };

    public static Dictionary<string, TemporalCase> Temporal { get; } = new()
    {
        ["2 videos of 5 frames torch"] = new(21, 2, 5, 3, 4, 5, 7, 3, true, true, ConvWeightLayout.Torch),
        ["2 videos of 5 frames packed"] = new(21, 2, 5, 3, 4, 5, 7, 3, true, true, ConvWeightLayout.Packed),
        ["one frame"] = new(22, 3, 1, 2, 3, 4, 6, 3, true, true, ConvWeightLayout.Packed),
        ["kt 5 over 4 frames chunks of 10"] = new(23, 2, 4, 3, 3, 3, 5, 5, true, false, ConvWeightLayout.Torch, MaxChunkRows: 10),
        ["bf16 packed"] = new(24, 1, 6, 2, 5, 8, 4, 3, true, true, ConvWeightLayout.Packed, DType.BF16),
        ["residual in place no bias"] = new(25, 2, 3, 3, 2, 6, 6, 3, false, true, ConvWeightLayout.Torch, ResidualInPlace: true),
        ["fp32 torch chunks of 10"] = new(26, 2, 5, 3, 4, 5, 7, 3, true, true, ConvWeightLayout.Torch, DType.F32, MaxChunkRows: 10),
    };

    public static Dictionary<string, LinearCase> Linear { get; } = new()
    {
        ["fused bias and residual"] = new(31, [2, 13, 40], 24, true, true, LinearPath.Fused, true),
        ["unfused bias and residual"] = new(31, [2, 13, 37], 29, true, true, LinearPath.Unfused, false),
        ["auto fuses aligned operands"] = new(31, [2, 13, 40], 24, true, true, LinearPath.Auto, true),
        ["auto falls back for odd features"] = new(31, [2, 13, 37], 29, true, true, LinearPath.Auto, false),
        ["auto falls back for a misaligned x"] = new(31, [2, 13, 40], 24, true, true, LinearPath.Auto, false, Misaligned: true),
        ["fused residual in place"] = new(32, [5, 24], 24, true, true, LinearPath.Fused, true, ResidualInPlace: true),
        ["unfused chunks of 5 residual in place"] = new(32, [5, 24], 24, true, true, LinearPath.Unfused, false, MaxChunkRows: 5, ResidualInPlace: true),
        ["rank 2 no bias no residual"] = new(33, [17, 24], 40, false, false, LinearPath.Auto, true),
        ["rank 4 unfused chunks of 4"] = new(34, [2, 3, 5, 16], 12, true, true, LinearPath.Unfused, false, MaxChunkRows: 4),
        ["fused bias only"] = new(35, [9, 64], 32, true, false, LinearPath.Fused, true),
        ["bf16 fused"] = new(36, [3, 7, 40], 24, true, true, LinearPath.Fused, true, DType.BF16),
        ["bf16 unfused"] = new(36, [3, 7, 40], 24, true, true, LinearPath.Unfused, false, DType.BF16),
        ["fp32 fused bias and residual"] = new(37, [2, 13, 40], 24, true, true, LinearPath.Fused, true, DType.F32),
        ["fp32 auto falls back for 6 features"] = new(38, [3, 5, 6], 8, true, true, LinearPath.Auto, false, DType.F32),
        ["fp32 unfused chunks of 5 residual in place"] = new(39, [17, 24], 24, true, true, LinearPath.Unfused, false, DType.F32, MaxChunkRows: 5, ResidualInPlace: true),
    };

    public static Dictionary<string, AttentionCase> Attention { get; } = new()
    {
        ["d4 two heads"] = new(41, 2, 13, 13, 2, 4),
        ["d8 cross-attention 16x7 five heads"] = new(42, 3, 16, 7, 5, 8),
        ["d64 two heads 21x19"] = new(43, 2, 21, 19, 2, 64),
        ["d80 three heads"] = new(44, 1, 17, 17, 3, 80),
        ["d512 one head"] = new(45, 1, 23, 23, 1, 512),
        ["temporal-like 40 sequences of 5 frames"] = new(46, 40, 5, 5, 5, 8),
        ["one key"] = new(47, 2, 5, 1, 2, 8),
        ["large logits"] = new(48, 1, 6, 7, 2, 8, LogitScale: 30f),
        ["chunks of 2 sequences and 5 queries"] = new(43, 3, 21, 19, 2, 64, MaxImages: 2, MaxQueries: 5),
        ["workspace of 7 query rows"] = new(49, 2, 21, 30, 2, 8, WorkspaceQueryRows: 7),
        ["bf16 d64"] = new(50, 2, 9, 11, 2, 64, DType.BF16),
        ["fp32 d64 chunks of 2 sequences and 5 queries"] = new(51, 3, 21, 19, 2, 64, DType.F32, MaxImages: 2, MaxQueries: 5),
        ["fp32 d512 one head like the VAE"] = new(52, 1, 23, 23, 1, 512, DType.F32),
        ["2 videos of 3 frames sharing a 9-token context"] = new(53, 6, 16, 9, 2, 8, KvGroup: 3),
        ["shared context, rounds of 2 sequences cut at each video"] = new(54, 6, 21, 19, 2, 64, MaxImages: 2, MaxQueries: 5, KvGroup: 3),
        ["one shared context, workspace of 4 query rows"] = new(55, 4, 12, 10, 2, 8, WorkspaceQueryRows: 4, KvGroup: 4),
        ["bf16 d64 shared context"] = new(56, 4, 9, 11, 2, 64, DType.BF16, KvGroup: 2),
        ["fp32 d64 shared context, rounds of 4 sequences"] = new(57, 6, 13, 19, 2, 64, DType.F32, MaxImages: 4, KvGroup: 2),
    };

    public static TheoryData<string> Names<T>(Dictionary<string, T> cases) => [.. cases.Keys];

    /// <summary>Runs a convolution case; returns the device output (host copy) after checking it against the CPU.</summary>
    public static Tensor RunConv(IOpTestDevice device, ConvCase c, long? maxChunkRows = null)
    {
        var data = new TestData(c.Seed);
        var x = data.Uniform(c.N, c.H, c.W, c.Cin).To(c.DType);
        var weight = data.Uniform(c.Cout, c.Cin, c.Kh, c.Kw).To(c.DType);
        var bias = c.Bias ? data.Uniform(c.Cout).To(c.DType) : null;
        var perImage = c.PerImage ? data.Uniform(c.N, c.Cout).To(c.DType) : null;
        var shape = new Conv2dShape(c.N, c.H, c.W, c.Cin, c.Cout, c.Kh, c.Kw, c.Stride, c.Padding, c.DType);
        var residual = c.Residual ? data.Uniform(c.N, shape.OutHeight, shape.OutWidth, c.Cout).To(c.DType) : null;
        var expected = Cpu.Conv2d(F32(x), F32(weight), F32(bias), c.Stride, c.Padding, F32(perImage), F32(residual));

        var op = new Im2colConv2dOp(maxChunkRows ?? c.MaxChunkRows, c.ForceIm2col);
        var (output, residualOnDevice) = Output(device, expected.Shape, c.DType, residual, c.ResidualInPlace);
        var workspace = Workspace(device, c.WorkspaceRows > 0 ? op.BytesFor(shape, c.WorkspaceRows) : op.WorkspaceBytes(shape));
        var deviceWeight = device.Upload(c.Layout == ConvWeightLayout.Packed ? ConvWeights.PackOnHost(weight, c.DType) : weight);
        var args = new Conv2dArgs(device.Upload(x), deviceWeight, c.Layout, Upload(device, bias), c.Stride, c.Padding, Upload(device, perImage), residualOnDevice, output);

        var plan = op.Plan(args, workspace);
        Assert.Equal(c.ForceIm2col || !shape.IsPointwise, plan.Im2col);
        Assert.Equal(c.WorkspaceRows > 0 ? c.WorkspaceRows : Math.Min(shape.Rows, maxChunkRows ?? c.MaxChunkRows), plan.ChunkRows);
        device.Run(context => op.Run(context!, args, workspace), plan.Steps);
        return Check(device, expected, output, c.DType, what: "Conv2d");
    }

    /// <summary>Runs a temporal convolution case through <see cref="TemporalConvAsConv2dOp"/>.</summary>
    public static Tensor RunTemporal(IOpTestDevice device, TemporalCase c)
    {
        var data = new TestData(c.Seed);
        var images = c.Videos * c.Frames;
        var x = data.Uniform(images, c.H, c.W, c.Cin).To(c.DType);
        var weight = data.Uniform(c.Cout, c.Cin, c.Kt, 1, 1).To(c.DType);
        var bias = c.Bias ? data.Uniform(c.Cout).To(c.DType) : null;
        var residual = c.Residual ? data.Uniform(images, c.H, c.W, c.Cout).To(c.DType) : null;
        var expected = Cpu.TemporalConv(F32(x), c.Frames, F32(weight), F32(bias), F32(residual));

        var conv = new Im2colConv2dOp(c.MaxChunkRows);
        var op = new TemporalConvAsConv2dOp(conv);
        var shape = new TemporalConvShape(images, c.Frames, c.H, c.W, c.Cin, c.Cout, c.Kt, c.DType);
        var (output, residualOnDevice) = Output(device, expected.Shape, c.DType, residual, c.ResidualInPlace);
        var workspace = Workspace(device, op.WorkspaceBytes(shape));
        var deviceWeight = device.Upload(c.Layout == ConvWeightLayout.Packed ? ConvWeights.PackOnHost(weight, c.DType) : weight);
        var args = new TemporalConvArgs(device.Upload(x), c.Frames, deviceWeight, c.Layout, Upload(device, bias), residualOnDevice, output);

        var plan = conv.Plan(TemporalConvAsConv2dOp.AsConv2d(args), workspace);
        Assert.Equal(shape.AsConv2d(), plan.Shape);
        device.Run(context => op.Run(context!, args, workspace), plan.Steps);
        return Check(device, expected, output, c.DType, what: "TemporalConv");
    }

    /// <summary>Runs a linear case through <see cref="BlasLinearOp"/>.</summary>
    public static Tensor RunLinear(IOpTestDevice device, LinearCase c)
    {
        var data = new TestData(c.Seed);
        var x = data.Uniform(c.XDims).To(c.DType);
        var inFeatures = c.XDims[^1];
        var weight = data.Uniform(c.Out, inFeatures).To(c.DType);
        var bias = c.Bias ? data.Uniform(c.Out).To(c.DType) : null;
        var outDims = c.XDims.ToArray();
        outDims[^1] = c.Out;
        var residual = c.Residual ? data.Uniform(outDims).To(c.DType) : null;
        var expected = Cpu.Linear(F32(x), F32(weight), F32(bias), F32(residual));

        var op = new BlasLinearOp(c.Path, c.MaxChunkRows);
        var shape = new LinearShape(x.ElementCount / inFeatures, inFeatures, c.Out, c.DType);
        var (output, residualOnDevice) = Output(device, expected.Shape, c.DType, residual, c.ResidualInPlace);
        var workspace = Workspace(device, op.WorkspaceBytes(shape));
        var deviceX = c.Misaligned ? device.UploadAt(x, c.DType.SizeOf()) : device.Upload(x);
        var args = new LinearArgs(deviceX, device.Upload(weight), Upload(device, bias), residualOnDevice, output);

        var plan = op.Plan(args, workspace);
        Assert.Equal(c.ExpectFused, plan.Fused);
        device.Run(context => op.Run(context!, args, workspace), plan.Steps);
        return Check(device, expected, output, c.DType, what: "Linear");
    }

    /// <summary>
    /// Runs an attention case through <see cref="GemmSoftmaxAttentionOp"/> (or through <paramref name="op"/>, on a real
    /// GPU only: the emulation mirrors the GEMM path's kernels alone); also checks the error against fp64 is at most
    /// twice a plain fp16 attention's.
    /// </summary>
    public static Tensor RunAttention(IOpTestDevice device, AttentionCase c, int? maxImages = null, int? maxQueries = null, IAttentionOp? op = null)
    {
        var data = new TestData(c.Seed);
        var channels = c.Heads * c.D;
        var q = Tensor.FromSpan<float>(data.Floats(c.B * c.Lq * channels, c.LogitScale), new TensorShape(c.B, c.Lq, channels)).To(c.DType);
        var k = data.Uniform(c.B / c.KvGroup, c.Lk, channels).To(c.DType);
        var v = data.Uniform(c.B / c.KvGroup, c.Lk, channels).To(c.DType);
        var expected = Cpu.Attention(F32(q), F32(k), F32(v), c.Heads);

        var gemm = new GemmSoftmaxAttentionOp(maxImages ?? c.MaxImages, maxQueries ?? c.MaxQueries);
        var shape = new AttentionShape(c.B, c.Lq, c.Lk, c.Heads, c.D, c.DType, c.KvGroup);
        var output = device.Empty(c.DType, c.B, c.Lq, channels);
        device.Poison(output);
        var workspace = Workspace(device, c.WorkspaceQueryRows > 0 ? GemmSoftmaxAttentionOp.BytesFor(shape, 1, c.WorkspaceQueryRows) : (op ?? gemm).WorkspaceBytes(shape));
        var args = new AttentionArgs(device.Upload(q), device.Upload(k), device.Upload(v), c.Heads, output);

        if (op is null)
        {
            var plan = gemm.Plan(args, workspace);
            if (c.WorkspaceQueryRows > 0)
            {
                Assert.Equal(new AttentionChunking(1, c.WorkspaceQueryRows), plan.Chunking);
            }

            device.Run(context => gemm.Run(context!, args, workspace), plan.Steps);
        }
        else
        {
            device.Run(context => op.Run(context!, args, workspace), []);
        }
        var actual = device.Download(output);
        var vScale = v.ToFloat32Array().Max(Math.Abs);
        var (relative, absolute, nmse, maxRel) = c.DType switch
        {
            DType.F16 => (1e-3, 1e-3, 1e-5, 5e-3),
            DType.BF16 => (8e-3, 8e-3, 1e-4, 2e-2),
            _ => (Tolerance.Fp32.Relative, Tolerance.Fp32.Absolute, Tolerance.Fp32.NormalizedMse, 1e-4),
        };
        var reference = Array.ConvertAll(expected.ToFloat32Array(), e => (double)e);
        new Tolerance(absolute * vScale, relative, nmse).AssertClose(reference, actual, $"Attention {c.DType}");
        AssertMaxRel(reference, actual, maxRel, "Attention");
        if (c.DType == DType.F16)
        {
            var exact = AttentionReference.Fp64(q, k, v, c.Heads);
            var plain = AttentionReference.PlainFp16(q, k, v, c.Heads);
            var ours = MaxError(exact, actual.ToFloat32Array());
            var naive = MaxError(exact, plain);
            Assert.True(ours <= 2 * naive, $"attention's max error against fp64 is {ours:G3}, more than twice a plain fp16 attention's {naive:G3}");
        }

        return actual;
    }

    /// <summary>
    /// Asserts two device results of the same case (e.g. chunked and unchunked) agree to within one rounding of the
    /// storage type, plus what reordering the fp32 sums can change: a chunk may get another cuBLAS algorithm, whose
    /// sums differ by a few fp32 roundings of partial sums as large as the tensor's largest values, not the element's.
    /// Measured on an H200 (2026-11-26): one element of 1.80e-4 in a chunked 3x3 convolution came out 3.6e-7 apart
    /// (NMSE 6.9e-18 over the tensor), outside the former absolute bar of 1e-7.
    /// </summary>
    public static void AssertSameResult(Tensor a, Tensor b, bool exact)
    {
        var largest = a.ToFloat32Array().Max(v => Math.Abs((double)v));
        var tolerance = exact ? Tolerance.Exact : new Tolerance(Math.Max(1e-7, largest * Math.Pow(2, -16)), a.DType == DType.F16 ? 1.0 / 1024 : 1.0 / 128, 1e-6);
        tolerance.AssertClose(a, b, "chunked against unchunked");
    }

    [return: NotNullIfNotNull(nameof(t))]
    private static Tensor? F32(Tensor? t) => t?.To(DType.F32);

    private static Tensor? Upload(IOpTestDevice device, Tensor? host) => host is null ? null : device.Upload(host);

    private static Tensor Workspace(IOpTestDevice device, long bytes)
    {
        var workspace = device.Empty(DType.U8, (int)Math.Max(bytes, 1));
        device.Poison(workspace);
        return workspace;
    }

    /// <summary>The output, NaN-poisoned; with an in-place residual, the output holds the residual and is passed as it.</summary>
    private static (Tensor Output, Tensor? Residual) Output(IOpTestDevice device, TensorShape shape, DType dtype, Tensor? residual, bool inPlace)
    {
        if (inPlace)
        {
            var both = device.Upload(residual!);
            return (both, both);
        }

        var output = device.Empty(dtype, [.. shape.Dims]);
        device.Poison(output);
        return (output, residual is null ? null : device.Upload(residual));
    }

    private static Tensor Check(IOpTestDevice device, Tensor expected, Tensor output, DType dtype, string what)
    {
        var actual = device.Download(output);
        var reference = Array.ConvertAll(expected.ToFloat32Array(), e => (double)e);
        var scale = reference.Max(Math.Abs);
        var (relative, absolute, nmse, maxRel) = dtype switch
        {
            DType.F16 => (1e-3, 1e-4, 1e-5, 5e-3),
            DType.BF16 => (8e-3, 1e-3, 1e-4, 2e-2),
            _ => (Tolerance.Fp32.Relative, Tolerance.Fp32.Absolute, Tolerance.Fp32.NormalizedMse, 1e-4),
        };
        new Tolerance(absolute * scale, relative, nmse).AssertClose(reference, actual, $"{what} {dtype}");
        AssertMaxRel(reference, actual, maxRel, what);
        return actual;
    }

    /// <summary>The figure: max |actual - expected| over max |expected|.</summary>
    private static void AssertMaxRel(double[] expected, Tensor actual, double limit, string what)
    {
        var values = actual.ToFloat32Array();
        var error = MaxError(expected, values);
        var scale = expected.Max(Math.Abs);
        Assert.True(error <= limit * scale, $"{what}: max_rel {error / scale:G3} exceeds {limit:G3}");
    }

    private static double MaxError(double[] expected, float[] actual)
    {
        var worst = 0.0;
        for (var i = 0; i < expected.Length; i++)
        {
            var e = Math.Abs(actual[i] - expected[i]);
            worst = double.IsNaN(e) ? double.PositiveInfinity : Math.Max(worst, e);
        }

        return worst;
    }
}
