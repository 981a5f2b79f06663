using CudaI2V.Kernels.Cpu;
using CudaI2V.Layers.Modules;
using CudaI2V.Loader;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Layers;

/// <summary>A feed-forward run in chunks of tokens (to bound its hidden layer's memory) gives the values of one run over every token.</summary>
public sealed class FeedForwardChunkTests
{
    [Theory]
    [InlineData(FeedForwardActivation.Geglu, 1024L)]  // 8 tokens per chunk (2 * 16 hidden fp32 values each): 101 tokens in 13 chunks
    [InlineData(FeedForwardActivation.Geglu, 20_000L)] // 156 tokens per chunk: one chunk, no split
    [InlineData(FeedForwardActivation.Gelu, 100L)]     // one token per chunk
    public void Chunks_give_the_values_of_one_pass(FeedForwardActivation activation, long maxHiddenBytes)
    {
        const int Dim = 6, Inner = 16;
        var hidden = activation == FeedForwardActivation.Geglu ? 2 * Inner : Inner;
        var data = new TestData(31);
        using var weights = WeightSet.FromTensors("ff", new Dictionary<string, Tensor>
        {
            ["ff.net.0.proj.weight"] = Tensor.FromSpan<float>(data.Floats(hidden * Dim), new TensorShape(hidden, Dim)),
            ["ff.net.0.proj.bias"] = Tensor.FromSpan<float>(data.Floats(hidden), new TensorShape(hidden)),
            ["ff.net.2.weight"] = Tensor.FromSpan<float>(data.Floats(Dim * Inner), new TensorShape(Dim, Inner)),
            ["ff.net.2.bias"] = Tensor.FromSpan<float>(data.Floats(Dim), new TensorShape(Dim)),
        });
        var binder = new WeightBinder(new CpuOps(), weights);
        var whole = new FeedForward(binder, "ff", Dim, Inner, activation, maxHiddenBytes: long.MaxValue);
        var chunked = new FeedForward(binder, "ff", Dim, Inner, activation, maxHiddenBytes);
        var x = Tensor.FromSpan<float>(data.Floats(101 * Dim, scale: 2f), new TensorShape(1, 101, Dim));
        var residual = Tensor.FromSpan<float>(data.Floats(101 * Dim), new TensorShape(1, 101, Dim));

        var expected = whole.Forward(x, residual);
        var actual = chunked.Forward(x, residual);

        Assert.Equal(expected.Shape, actual.Shape);
        Assert.Equal(expected.ToFloat32Array(), actual.ToFloat32Array());
        Assert.Equal(whole.Forward(x).ToFloat32Array(), chunked.Forward(x).ToFloat32Array());
    }
}
