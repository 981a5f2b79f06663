using CudaI2V.Runtime.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace CudaI2V.Kernels.Cpu;

public sealed partial class CpuOps
{
    /// <inheritdoc/>
    /// <remarks>
    /// One task per (batch, head, query). Channels-last tokens keep each head's d channels contiguous, so a
    /// score is the fp32 dot product of two d-long slices, scaled by 1/sqrt(d) in double. The softmax is
    /// evaluated in double with the maximum subtracted, and the weighted sum of values is accumulated in
    /// double and divided by the softmax sum at the end. With k and v shared by groups of q rows, row b reads k/v row
    /// b / group: the same arithmetic as with the rows repeated, so the same bits.
    /// </remarks>
    public Tensor Attention(Tensor q, Tensor k, Tensor v, int heads)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        Require(nameof(Attention), nameof(q), q);
        Require(nameof(Attention), nameof(k), k);
        Require(nameof(Attention), nameof(v), v);
        var group = OpShapes.Attention(q, k, v, heads);

        var (batch, queries, channels) = (q.Shape[0], q.Shape[1], q.Shape[2]);
        var keys = k.Shape[1];
        var d = channels / heads;
        var scale = 1.0 / Math.Sqrt(d);
        var output = NewTensor(nameof(Attention), q.Shape);

        Parallel.For(
            0,
            batch * heads * queries,
            _parallel,
            () => (Scores: new double[keys], Sum: new double[d]),
            (task, _, scratch) =>
            {
                var i = task % queries;
                var h = task / queries % heads;
                var b = task / queries / heads;
                var kb = b / group;
                var qs = q.AsSpan<float>();
                var ks = k.AsSpan<float>();
                var vs = v.AsSpan<float>();
                var query = qs.Slice((((b * queries) + i) * channels) + (h * d), d);

                var max = double.NegativeInfinity;
                for (var j = 0; j < keys; j++)
                {
                    var key = ks.Slice((((kb * keys) + j) * channels) + (h * d), d);
                    scratch.Scores[j] = TensorPrimitives.Dot(query, key) * scale;
                    max = Math.Max(max, scratch.Scores[j]);
                }

                var total = 0.0;
                Array.Clear(scratch.Sum);
                for (var j = 0; j < keys; j++)
                {
                    var weight = Math.Exp(scratch.Scores[j] - max);
                    total += weight;
                    var value = vs.Slice((((kb * keys) + j) * channels) + (h * d), d);
                    for (var e = 0; e < d; e++)
                    {
                        scratch.Sum[e] += weight * value[e];
                    }
                }

                var result = output.AsSpan<float>().Slice((((b * queries) + i) * channels) + (h * d), d);
                for (var e = 0; e < d; e++)
                {
                    result[e] = (float)(scratch.Sum[e] / total);
                }

                return scratch;
            },
            _ => { });

        return output;
    }
}
