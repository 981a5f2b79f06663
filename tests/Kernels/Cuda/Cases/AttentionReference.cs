using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda.Cases;

/// <summary>
/// Attention references for <see cref="GemmOpCases"/> and the GPU tests, from the stored (rounded) inputs: in double,
/// and as a plain fp16 attention rounds. k and v may have fewer sequences than q: sequence b reads k/v sequence
/// b / (B / Bk), as <see cref="CudaI2V.Kernels.IOps.Attention"/> does.
/// </summary>
internal static class AttentionReference
{
    /// <summary>Attention in double from the stored (rounded) inputs.</summary>
    public static double[] Fp64(Tensor q, Tensor k, Tensor v, int heads) =>
        Attend(q, k, v, heads, (dot, scale) => dot * scale, p => p, o => o);

    /// <summary>
    /// A plain fp16 attention, rounding where PyTorch's math path does in fp16: the scores after Q K^T (fp32
    /// accumulation), the probabilities after an fp32 softmax, and the output after P V (fp32 accumulation).
    /// </summary>
    public static float[] PlainFp16(Tensor q, Tensor k, Tensor v, int heads) =>
        Array.ConvertAll(Attend(q, k, v, heads, (dot, scale) => (float)(Half)(float)dot * (float)scale, p => (float)(Half)(float)p, o => (float)(Half)(float)o), e => (float)e);

    private static double[] Attend(Tensor q, Tensor k, Tensor v, int heads, Func<double, double, double> score, Func<double, double> probability, Func<double, double> output)
    {
        var (qs, ks, vs) = (q.ToFloat32Array(), k.ToFloat32Array(), v.ToFloat32Array());
        var (batch, lq, channels) = (q.Shape[0], q.Shape[1], q.Shape[2]);
        var lk = k.Shape[1];
        var group = batch / k.Shape[0]; // q sequences per k/v sequence
        var d = channels / heads;
        var scale = 1.0 / Math.Sqrt(d);
        var result = new double[qs.Length];
        for (var b = 0; b < batch; b++)
        {
            for (var h = 0; h < heads; h++)
            {
                for (var i = 0; i < lq; i++)
                {
                    var s = new double[lk];
                    for (var j = 0; j < lk; j++)
                    {
                        var dot = 0.0;
                        for (var e = 0; e < d; e++)
                        {
                            dot += (double)qs[(((b * lq) + i) * channels) + (h * d) + e] * ks[((((b / group) * lk) + j) * channels) + (h * d) + e];
                        }

                        s[j] = score(dot, scale);
                    }

                    var max = s.Max();
                    var sum = s.Sum(x => Math.Exp(x - max));
                    var p = Array.ConvertAll(s, x => probability(Math.Exp(x - max) / sum));
                    for (var e = 0; e < d; e++)
                    {
                        var o = 0.0;
                        for (var j = 0; j < lk; j++)
                        {
                            o += p[j] * vs[((((b / group) * lk) + j) * channels) + (h * d) + e];
                        }

                        result[(((b * lq) + i) * channels) + (h * d) + e] = output(o);
                    }
                }
            }
        }

        return result;
    }
}
