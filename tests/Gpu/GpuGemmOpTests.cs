using CudaI2V.Tests.Kernels.Cuda;

namespace CudaI2V.Tests.Gpu;

/// <summary>
/// Every case of <see cref="GemmOpCases"/> on a real GPU: Im2col.cu, GemmEpilogue.cu, Softmax.cu and the cuBLAS and
/// cuBLASLt calls against the CPU backend on the same rounded inputs, with NaN-poisoned outputs and workspaces (skipped
/// without a GPU; failing under CUDAI2V_REQUIRE_GPU=1). The same cases run emulated on every machine
/// (<see cref="GemmOpEmulationTests"/>), so a failure here and not there points at a kernel or a cuBLAS call.
/// </summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuGemmOpTests
{
    public static TheoryData<string> ConvCases => GemmOpCases.Names(GemmOpCases.Conv);

    public static TheoryData<string> TemporalCases => GemmOpCases.Names(GemmOpCases.Temporal);

    public static TheoryData<string> LinearCases => GemmOpCases.Names(GemmOpCases.Linear);

    public static TheoryData<string> AttentionCases => GemmOpCases.Names(GemmOpCases.Attention);

    [Theory]
    [MemberData(nameof(ConvCases))]
    public void Conv2d_matches_the_cpu_backend(string name)
    {
        using var device = new GpuOpDevice();
        GemmOpCases.RunConv(device, GemmOpCases.Conv[name]);
    }

    [Theory]
    [MemberData(nameof(TemporalCases))]
    public void TemporalConv_matches_the_cpu_backend(string name)
    {
        using var device = new GpuOpDevice();
        GemmOpCases.RunTemporal(device, GemmOpCases.Temporal[name]);
    }

    [Theory]
    [MemberData(nameof(LinearCases))]
    public void Linear_matches_the_cpu_backend(string name)
    {
        using var device = new GpuOpDevice();
        GemmOpCases.RunLinear(device, GemmOpCases.Linear[name]);
    }

    [Theory]
    [MemberData(nameof(AttentionCases))]
    public void Attention_matches_the_cpu_backend(string name)
    {
        using var device = new GpuOpDevice();
        GemmOpCases.RunAttention(device, GemmOpCases.Attention[name]);
    }

    /// <summary>
    /// Chunks change the GEMMs' M (and cuBLAS may pick another algorithm, summing in another order), so chunked and
    /// whole results may differ by one rounding of the storage type, not more.
    /// </summary>
    [Fact]
    public void Chunked_and_whole_convolutions_agree()
    {
        using var device = new GpuOpDevice();
        var c = GemmOpCases.Conv["3x3 s1 p1 13x18 all addends packed"];
        var whole = GemmOpCases.RunConv(device, c);
        GemmOpCases.AssertSameResult(whole, GemmOpCases.RunConv(device, c, maxChunkRows: 17), exact: false);
        GemmOpCases.AssertSameResult(whole, GemmOpCases.RunConv(device, c, maxChunkRows: 1), exact: false);
    }

    [Fact]
    public void Chunked_and_whole_attention_agree()
    {
        using var device = new GpuOpDevice();
        var c = GemmOpCases.Attention["chunks of 2 sequences and 5 queries"];
        var whole = GemmOpCases.RunAttention(device, c, maxImages: 3, maxQueries: 21);
        GemmOpCases.AssertSameResult(whole, GemmOpCases.RunAttention(device, c), exact: false);
        GemmOpCases.AssertSameResult(whole, GemmOpCases.RunAttention(device, c, maxImages: 1, maxQueries: 1), exact: false);
    }
}
