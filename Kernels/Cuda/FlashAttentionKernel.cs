using System.Runtime.InteropServices;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda;

/// <summary>The parameters of FlashAttention.cu's entry points (104 bytes; mirrors <c>struct FlashAttentionParams</c>).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FlashAttentionParams
{
    /// <summary>Device address of q (B, Lq, heads * d).</summary>
    public ulong Q;

    /// <summary>Device address of k (B / KvGroup, Lk, heads * d).</summary>
    public ulong K;

    /// <summary>Device address of v (B / KvGroup, Lk, heads * d).</summary>
    public ulong V;

    /// <summary>Device address of the output (B, Lq, heads * d).</summary>
    public ulong Output;

    /// <summary>Elements between sequences of q.</summary>
    public long QBatch;

    /// <summary>Elements between sequences of k.</summary>
    public long KBatch;

    /// <summary>Elements between sequences of v.</summary>
    public long VBatch;

    /// <summary>Elements between sequences of the output.</summary>
    public long OutputBatch;

    /// <summary>Elements between rows (tokens) of q.</summary>
    public int QRow;

    /// <summary>Elements between rows of k.</summary>
    public int KRow;

    /// <summary>Elements between rows of v.</summary>
    public int VRow;

    /// <summary>Elements between rows of the output.</summary>
    public int OutputRow;

    /// <summary>Lq.</summary>
    public int Queries;

    /// <summary>Lk, at least 1.</summary>
    public int Keys;

    /// <summary>ceil(Lq / 64): block x = sequence * QueryBlocks + query block.</summary>
    public int QueryBlocks;

    /// <summary>1 / sqrt(d) * log2(e): the scores' scale in the kernel's log2 units.</summary>
    public float ScaleLog2;

    /// <summary>Sequences of q sharing one sequence of k and v, at least 1: sequence b reads k/v sequence b / KvGroup.</summary>
    public int KvGroup;
}

/// <summary>
/// Launcher of FlashAttention.cu: multi-head attention in one kernel (FlashAttention-2's forward, on mma.sync tensor
/// cores), for fp16 and bf16 at head dimensions 64 (the UNet) and 80 (CLIP-H vision), on sm_80 and newer. (Two tiles
/// of keys and values in flight take 36 KiB of shared memory at 64 and 44 KiB at 80; a larger head dimension would
/// need more than the 48 KiB a block gets without opting in.)
/// <see cref="Unsupported"/> says why a call cannot take it; <see cref="FlashAttentionOp"/> then uses the GEMM path.
/// </summary>
public static class FlashAttentionKernel
{
    /// <summary>The source file.</summary>
    public const string SourceFile = "FlashAttention.cu";

    /// <summary>Queries per block (16 per warp).</summary>
    public const int QueriesPerBlock = 64;

    /// <summary>Threads per block: four warps.</summary>
    public const uint ThreadsPerBlock = 128;

    /// <summary>The lowest architecture with the kernel's mma.sync m16n8k16 (fp16 and bf16).</summary>
    public const int MinimumArchitecture = 80;

    /// <summary>The head dimensions compiled.</summary>
    public static IReadOnlyList<int> HeadDims { get; } = [64, 80];

    /// <summary>The entry points this launcher uses.</summary>
    public static IReadOnlyList<string> EntryPoints { get; } =
        [.. HeadDims.SelectMany(d => new[] { $"flash_attention_d{d}_f16", $"flash_attention_d{d}_bf16" })];

    /// <summary>
    /// Why the kernel cannot run <paramref name="args"/> of <paramref name="shape"/> on a device of
    /// <paramref name="architecture"/> (a sentence), or null when it can: fp16 or bf16, a compiled head dimension,
    /// sm_80 or newer, channels contiguous, and every address and row or sequence stride a multiple of 16 bytes.
    /// </summary>
    public static string? Unsupported(AttentionArgs args, AttentionShape shape, int architecture)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.DType is not (DType.F16 or DType.BF16))
        {
            return $"the fused attention runs fp16 and bf16, not {shape.DType}";
        }

        if (!HeadDims.Contains(shape.HeadDim))
        {
            return $"the fused attention is compiled for head dimensions {string.Join(", ", HeadDims)}, not {shape.HeadDim}";
        }

        if (architecture < MinimumArchitecture)
        {
            return $"the fused attention needs sm_{MinimumArchitecture} or newer, not sm_{architecture}";
        }

        foreach (var (t, name) in new[] { (args.Q, "q"), (args.K, "k"), (args.V, "v"), (args.Output, "output") })
        {
            if (t.Strides[2] != 1)
            {
                return $"{name}'s channels are not contiguous";
            }

            // A stride of a dimension of size 1 is never used.
            if (t.DeviceAddress(name) % 16 != 0 || (t.Shape[1] > 1 && (t.Strides[1] % 8 != 0 || t.Strides[1] > int.MaxValue)) || (t.Shape[0] > 1 && t.Strides[0] % 8 != 0))
            {
                return $"{name} is not 16-byte aligned in its address or strides (strides {string.Join(", ", t.Strides)})";
            }
        }

        return null;
    }

    /// <summary>The launch for checked arguments the kernel supports (see <see cref="Unsupported"/>), or null when there is no query.</summary>
    public static KernelLaunch<FlashAttentionParams>? Plan(AttentionArgs args, AttentionShape shape)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Batch == 0 || shape.Queries == 0)
        {
            return null;
        }

        var queryBlocks = (shape.Queries + QueriesPerBlock - 1) / QueriesPerBlock;
        var blocks = (long)queryBlocks * shape.Batch;
        if (blocks > int.MaxValue || shape.Heads > 65535)
        {
            throw new ArgumentException($"Attention: {shape.Batch} sequences of {shape.Queries} queries and {shape.Heads} heads exceed the fused kernel's grid.", nameof(args));
        }

        var parameters = new FlashAttentionParams
        {
            Q = args.Q.DeviceAddress("q"),
            K = args.K.DeviceAddress("k"),
            V = args.V.DeviceAddress("v"),
            Output = args.Output.DeviceAddress("output"),
            QBatch = args.Q.Strides[0],
            KBatch = args.K.Strides[0],
            VBatch = args.V.Strides[0],
            OutputBatch = args.Output.Strides[0],
            QRow = (int)args.Q.Strides[1],
            KRow = (int)args.K.Strides[1],
            VRow = (int)args.V.Strides[1],
            OutputRow = (int)args.Output.Strides[1],
            Queries = shape.Queries,
            Keys = shape.Keys,
            QueryBlocks = queryBlocks,
            ScaleLog2 = (float)(1.0 / Math.Sqrt(shape.HeadDim) / Math.Log(2.0)),
            KvGroup = shape.KvGroup,
        };
        var suffix = shape.DType == DType.F16 ? "f16" : "bf16";
        var config = new LaunchConfig(new Dim3((uint)blocks, (uint)shape.Heads), new Dim3(ThreadsPerBlock));
        return new KernelLaunch<FlashAttentionParams>(SourceFile, $"flash_attention_d{shape.HeadDim}_{suffix}", config, parameters);
    }
}
