namespace CudaI2V.Tests.Kernels.Cuda;

/// <summary>
/// Every case of <see cref="GemmOpCases"/> planned by the real op classes and executed by <see cref="EmulatedDevice"/>:
/// the views, leading dimensions, head offsets, chunk boundaries and epilogue indices the GPU will be handed produce
/// the CPU backend's results, and every output element is written. No GPU needed.
/// </summary>
public sealed class GemmOpEmulationTests
{
    public static TheoryData<string> ConvCases => GemmOpCases.Names(GemmOpCases.Conv);

    public static TheoryData<string> TemporalCases => GemmOpCases.Names(GemmOpCases.Temporal);

    public static TheoryData<string> LinearCases => GemmOpCases.Names(GemmOpCases.Linear);

    public static TheoryData<string> AttentionCases => GemmOpCases.Names(GemmOpCases.Attention);

    [Theory]
    [MemberData(nameof(ConvCases))]
    public void Conv2d_matches_the_cpu_backend(string name)
    {
        using var device = new EmulatedDevice();
        GemmOpCases.RunConv(device, GemmOpCases.Conv[name]);
    }

    [Theory]
    [MemberData(nameof(TemporalCases))]
    public void TemporalConv_matches_the_cpu_backend(string name)
    {
        using var device = new EmulatedDevice();
        GemmOpCases.RunTemporal(device, GemmOpCases.Temporal[name]);
    }

    [Theory]
    [MemberData(nameof(LinearCases))]
    public void Linear_matches_the_cpu_backend(string name)
    {
        using var device = new EmulatedDevice();
        GemmOpCases.RunLinear(device, GemmOpCases.Linear[name]);
    }

    [Theory]
    [MemberData(nameof(AttentionCases))]
    public void Attention_matches_the_cpu_backend(string name)
    {
        using var device = new EmulatedDevice();
        GemmOpCases.RunAttention(device, GemmOpCases.Attention[name]);
    }

    [Fact]
    public void Chunked_and_whole_convolutions_agree_exactly()
    {
        using var device = new EmulatedDevice();
        var c = GemmOpCases.Conv["3x3 s1 p1 13x18 all addends packed"];
        var whole = GemmOpCases.RunConv(device, c);
        GemmOpCases.AssertSameResult(whole, GemmOpCases.RunConv(device, c, maxChunkRows: 17), exact: true);
        GemmOpCases.AssertSameResult(whole, GemmOpCases.RunConv(device, c, maxChunkRows: 1), exact: true);
    }

    [Fact]
    public void Chunked_and_whole_attention_agree_exactly()
    {
        using var device = new EmulatedDevice();
        var c = GemmOpCases.Attention["chunks of 2 sequences and 5 queries"];
        var whole = GemmOpCases.RunAttention(device, c, maxImages: 3, maxQueries: 21);
        GemmOpCases.AssertSameResult(whole, GemmOpCases.RunAttention(device, c), exact: true);
        GemmOpCases.AssertSameResult(whole, GemmOpCases.RunAttention(device, c, maxImages: 1, maxQueries: 1), exact: true);
    }
}
