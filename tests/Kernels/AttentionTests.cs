using CudaI2V.Kernels.Cpu;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Kernels;

/// <summary>CpuOps.Attention against a naive per-head softmax attention in double.</summary>
public sealed class AttentionTests
{
    private readonly CpuOps _ops = new();

    [Fact]
    public void Attention_HeadDim4TwoHeads_MatchesNaive() =>
        CheckAttention(seed: 41, batch: 3, queries: 16, keys: 16, heads: 2, headDim: 4);

    [Fact]
    public void Attention_HeadDim64FiveHeadsCrossAttention_MatchesNaive() =>
        CheckAttention(seed: 42, batch: 2, queries: 12, keys: 9, heads: 5, headDim: 64);

    [Fact]
    public void Attention_HeadDim80_MatchesNaive() =>
        CheckAttention(seed: 43, batch: 1, queries: 10, keys: 10, heads: 3, headDim: 80);

    [Fact]
    public void Attention_OneHeadOf512_MatchesNaive() =>
        CheckAttention(seed: 44, batch: 1, queries: 20, keys: 20, heads: 1, headDim: 512);

    [Fact]
    public void Attention_LargeLogits_StaysFiniteAndMatches() =>
        CheckAttention(seed: 45, batch: 1, queries: 6, keys: 7, heads: 2, headDim: 8, scale: 30f);

    [Fact]
    public void Attention_HeadOwnsContiguousChannels()
    {
        // Two heads of d = 2 over two keys. Head 0 (channels 0-1) attends only to key 0, head 1 (channels 2-3)
        // only to key 1, so the output takes channels 0-1 from value 0 and channels 2-3 from value 1.
        var q = Tensor.FromArray(new float[] { 100, 0, 0, 100 }, 1, 1, 4);
        var k = Tensor.FromArray(new float[] { 1, 0, 0, 0, 0, 0, 0, 1 }, 1, 2, 4);
        var v = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6, 7, 8 }, 1, 2, 4);

        var y = _ops.Attention(q, k, v, heads: 2);

        Tolerance.Fp32.AssertClose(new double[] { 1, 2, 7, 8 }, y);
    }

    [Fact]
    public void Attention_ChannelsNotDivisibleByHeads_Throws()
    {
        var q = Tensor.Zeros(DType.F32, new TensorShape(1, 3, 10));
        var error = Assert.Throws<ArgumentException>(() => _ops.Attention(q, q, q, heads: 4));
        Assert.Contains("[1, 3, 10]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Attention_KeysAndValuesSharedByGroupsOfRows_AreTheRepeatedRowsBitForBit()
    {
        // Two videos of three frames: q has 6 rows, k and v one per video. Row b reads k/v row b / 3, exactly the
        // numbers of the same attention with each video's k/v row repeated per frame.
        var data = new TestData(46);
        var (videos, frames, channels) = (2, 3, 2 * 8);
        var q = data.Uniform(videos * frames, 5, channels);
        var k = data.Uniform(videos, 7, channels);
        var v = data.Uniform(videos, 7, channels);
        Tensor Repeated(Tensor t) => _ops.Concat([.. Enumerable.Range(0, videos * frames).Select(b => t.Slice(0, b / frames, 1))], axis: 0);

        var shared = _ops.Attention(q, k, v, heads: 2);

        Assert.Equal(q.Shape, shared.Shape);
        Assert.Equal(_ops.Attention(q, Repeated(k), Repeated(v), heads: 2).ToFloat32Array(), shared.ToFloat32Array());
    }

    [Fact]
    public void Attention_KeyRowsThatDoNotDivideTheQueryRows_AreRefused()
    {
        var q = Tensor.Zeros(DType.F32, new TensorShape(6, 3, 8));
        var kv = Tensor.Zeros(DType.F32, new TensorShape(4, 5, 8));
        var error = Assert.Throws<ArgumentException>(() => _ops.Attention(q, kv, kv, heads: 2));
        Assert.Contains("have 4 rows, which do not divide the 6 rows of q [6, 3, 8]", error.Message, StringComparison.Ordinal);
    }

    private void CheckAttention(ulong seed, int batch, int queries, int keys, int heads, int headDim, float scale = 1f)
    {
        var data = new TestData(seed);
        var channels = heads * headDim;
        var q = Tensor.FromSpan<float>(data.Floats(batch * queries * channels, scale), new TensorShape(batch, queries, channels));
        var k = data.Uniform(batch, keys, channels);
        var v = data.Uniform(batch, keys, channels);

        var actual = _ops.Attention(q, k, v, heads);

        Assert.Equal(q.Shape, actual.Shape);
        Tolerance.Fp32.AssertClose(NaiveAttention(q, k, v, heads), actual);
    }

    /// <summary>For each batch, head and query: softmax over keys of (q . k) / sqrt(d), then the weighted sum of values.</summary>
    private static double[] NaiveAttention(Tensor q, Tensor k, Tensor v, int heads)
    {
        var (batch, queries, channels) = (q.Shape[0], q.Shape[1], q.Shape[2]);
        var keys = k.Shape[1];
        var d = channels / heads;
        var (qs, ks, vs) = (Naive.Values(q), Naive.Values(k), Naive.Values(v));
        var y = new double[qs.Length];
        for (var b = 0; b < batch; b++)
        {
            for (var h = 0; h < heads; h++)
            {
                for (var i = 0; i < queries; i++)
                {
                    var logits = new double[keys];
                    for (var j = 0; j < keys; j++)
                    {
                        for (var e = 0; e < d; e++)
                        {
                            logits[j] += qs[(((b * queries) + i) * channels) + (h * d) + e] * ks[(((b * keys) + j) * channels) + (h * d) + e];
                        }

                        logits[j] /= Math.Sqrt(d);
                    }

                    var max = logits.Max();
                    var weights = logits.Select(s => Math.Exp(s - max)).ToArray();
                    var total = weights.Sum();
                    for (var e = 0; e < d; e++)
                    {
                        var sum = 0.0;
                        for (var j = 0; j < keys; j++)
                        {
                            sum += weights[j] / total * vs[(((b * keys) + j) * channels) + (h * d) + e];
                        }

                        y[(((b * queries) + i) * channels) + (h * d) + e] = sum;
                    }
                }
            }
        }

        return y;
    }
}
