using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Kernels.Cuda.Cases.GemmOpCases;

namespace CudaI2V.Tests.Gpu;

/// <summary>
/// FlashAttention.cu through <see cref="FlashAttentionOp"/> against the CPU backend, with the GEMM path's bars (and, in
/// fp16, at most twice a plain fp16 attention's error against fp64): the model's shapes at awkward sizes (several
/// key tiles with a ragged last one, one query, one key, 16-frame temporal sequences, a 77-token context, 257 CLIP
/// tokens, a 145-token context shared by each video's frames), every head dimension the kernel is compiled for, bf16,
/// and every GEMM-path case through the same op, most of which it hands to the GEMM path (skipped without a GPU).
/// </summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuFlashAttentionTests
{
    internal static Dictionary<string, AttentionCase> Cases { get; } = new()
    {
        ["d64 77-token context, 130 queries, 5 heads"] = new(61, 2, 130, 77, 5, 64),
        ["d64 three key tiles 200x200"] = new(62, 1, 200, 200, 2, 64),
        ["d64 1100 keys, ragged last tile"] = new(63, 1, 65, 1100, 1, 64),
        ["d64 one query"] = new(64, 3, 1, 70, 2, 64),
        ["d64 one key"] = new(65, 2, 9, 1, 2, 64),
        ["d64 temporal: 37 sequences of 16 frames"] = new(66, 37, 16, 16, 5, 64),
        ["d64 large logits"] = new(67, 1, 70, 130, 2, 64, LogitScale: 30f),
        ["d80 CLIP-like 257 tokens"] = new(68, 1, 257, 257, 2, 80),
        ["d64 ragged 129x129, 3 sequences"] = new(69, 3, 129, 129, 5, 64),
        ["bf16 d64 77-token context"] = new(70, 2, 130, 77, 5, 64, DType.BF16),
        ["bf16 d80"] = new(71, 1, 100, 90, 2, 80, DType.BF16),
        ["d64 2 videos of 4 frames sharing a 145-token context"] = new(72, 8, 130, 145, 5, 64, KvGroup: 4),
        ["bf16 d64 one context shared by 3 sequences"] = new(73, 3, 70, 77, 2, 64, DType.BF16, KvGroup: 3),
    };

    public static TheoryData<string> CaseNames => Names(Cases);

    public static TheoryData<string> GemmPathCaseNames => Names(Attention);

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void The_fused_kernel_matches_the_cpu_backend(string name)
    {
        GpuProbe.Require();
        var c = Cases[name];
        Assert.True(FlashAttentionOp.Takes(new AttentionShape(c.B, c.Lq, c.Lk, c.Heads, c.D, c.DType, c.KvGroup)), $"{name}: the kernel should take this case");
        using var device = new GpuOpDevice();
        RunAttention(device, c, op: new FlashAttentionOp());
    }

    [Theory]
    [MemberData(nameof(GemmPathCaseNames))]
    public void Every_gemm_path_case_passes_through_the_flash_op(string name)
    {
        GpuProbe.Require();
        using var device = new GpuOpDevice();
        RunAttention(device, Attention[name], op: new FlashAttentionOp());
    }

    [Fact]
    public void The_fused_kernel_and_the_gemm_path_agree_to_a_rounding()
    {
        GpuProbe.Require();
        using var device = new GpuOpDevice();
        var c = Cases["d64 three key tiles 200x200"];
        var fused = RunAttention(device, c, op: new FlashAttentionOp());
        var gemm = RunAttention(device, c);

        // Both round P once to fp16 and accumulate in fp32, in different orders and with the normalisation at
        // different points, so they differ by about one fp16 rounding of the output.
        new Tolerance(2e-3, 2e-3, 1e-5).AssertClose(gemm, fused, "fused against gemm");
    }
}
