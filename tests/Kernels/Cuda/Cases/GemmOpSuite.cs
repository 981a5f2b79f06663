namespace CudaI2V.Tests.Kernels.Cuda.Cases;

/// <summary>
/// Every case of <see cref="GemmOpCases"/> on one kind of device: the emulation (every machine) or a real GPU. A
/// failure on the GPU and not in the emulation points at a kernel or a cuBLAS call, not at a plan.
/// </summary>
public abstract class GemmOpSuite
{
    public static TheoryData<string> ConvCases => GemmOpCases.Names(GemmOpCases.Conv);

    public static TheoryData<string> TemporalCases => GemmOpCases.Names(GemmOpCases.Temporal);

    public static TheoryData<string> LinearCases => GemmOpCases.Names(GemmOpCases.Linear);

    public static TheoryData<string> AttentionCases => GemmOpCases.Names(GemmOpCases.Attention);

    /// <summary>
    /// Whether chunked and whole runs must agree bit for bit: the emulation sums in one order; on the GPU chunks change
    /// the GEMMs' M, cuBLAS may pick another algorithm, and results may differ by one rounding of the storage type.
    /// </summary>
    private protected abstract bool ChunksExact { get; }

    private protected abstract IOpTestDevice NewDevice();

    [Theory]
    [MemberData(nameof(ConvCases))]
    public void Conv2d_matches_the_cpu_backend(string name)
    {
        using var device = NewDevice();
        GemmOpCases.RunConv(device, GemmOpCases.Conv[name]);
    }

    [Theory]
    [MemberData(nameof(TemporalCases))]
    public void TemporalConv_matches_the_cpu_backend(string name)
    {
        using var device = NewDevice();
        GemmOpCases.RunTemporal(device, GemmOpCases.Temporal[name]);
    }

    [Theory]
    [MemberData(nameof(LinearCases))]
    public void Linear_matches_the_cpu_backend(string name)
    {
        using var device = NewDevice();
        GemmOpCases.RunLinear(device, GemmOpCases.Linear[name]);
    }

    [Theory]
    [MemberData(nameof(AttentionCases))]
    public void Attention_matches_the_cpu_backend(string name)
    {
        using var device = NewDevice();
        GemmOpCases.RunAttention(device, GemmOpCases.Attention[name]);
    }

    [Fact]
    public void Chunked_and_whole_convolutions_agree()
    {
        using var device = NewDevice();
        var c = GemmOpCases.Conv["3x3 s1 p1 13x18 all addends packed"];
        var whole = GemmOpCases.RunConv(device, c);
        GemmOpCases.AssertSameResult(whole, GemmOpCases.RunConv(device, c, maxChunkRows: 17), ChunksExact);
        GemmOpCases.AssertSameResult(whole, GemmOpCases.RunConv(device, c, maxChunkRows: 1), ChunksExact);
    }

    [Fact]
    public void Chunked_and_whole_attention_agree()
    {
        using var device = NewDevice();
        var c = GemmOpCases.Attention["chunks of 2 sequences and 5 queries"];
        var whole = GemmOpCases.RunAttention(device, c, maxImages: 3, maxQueries: 21);
        GemmOpCases.AssertSameResult(whole, GemmOpCases.RunAttention(device, c), ChunksExact);
        GemmOpCases.AssertSameResult(whole, GemmOpCases.RunAttention(device, c, maxImages: 1, maxQueries: 1), ChunksExact);

        // k and v shared by each video's 3 sequences: rounds cut at the videos, in any chunking.
        var shared = GemmOpCases.Attention["shared context, rounds of 2 sequences cut at each video"];
        var sharedWhole = GemmOpCases.RunAttention(device, shared, maxImages: 6, maxQueries: 21);
        GemmOpCases.AssertSameResult(sharedWhole, GemmOpCases.RunAttention(device, shared), ChunksExact);
        GemmOpCases.AssertSameResult(sharedWhole, GemmOpCases.RunAttention(device, shared, maxImages: 1, maxQueries: 1), ChunksExact);
    }
}
