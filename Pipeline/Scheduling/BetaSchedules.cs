using CudaI2V.Loader.Configs;

namespace CudaI2V.Pipeline.Scheduling;

/// <summary>
/// The noise-schedule tables of diffusers' DDIMScheduler, reproduced bit for bit: every value is computed in the
/// precision and order PyTorch uses (float32 tensor ops, float64 where Python floats are involved).
/// </summary>
internal static class BetaSchedules
{
    /// <summary>The betas of <paramref name="config"/>: trained_betas when given, else the named schedule, then the optional zero-SNR rescale.</summary>
    public static float[] Betas(SchedulerConfig config) =>
        Betas(config.NumTrainTimesteps, config.BetaStart, config.BetaEnd, config.BetaSchedule, config.TrainedBetas, config.RescaleBetasZeroSnr);

    /// <summary>
    /// The <paramref name="n"/> betas: <paramref name="trained"/> when given (rounded to float32), else the named schedule,
    /// then the optional zero-SNR rescale. Every diffusers scheduler CudaI2V runs builds its betas this way.
    /// </summary>
    public static float[] Betas(int n, double betaStart, double betaEnd, BetaSchedule schedule, IReadOnlyList<double>? trained, bool rescale)
    {
        var betas = trained is not null
            ? trained.Select(b => (float)b).ToArray()
            : schedule switch
            {
                BetaSchedule.Linear => TorchLinspace((float)betaStart, (float)betaEnd, n),
                BetaSchedule.ScaledLinear => ScaledLinear(betaStart, betaEnd, n),
                BetaSchedule.SquaredCosCapV2 => SquaredCosCapV2(n),
                _ => throw new ArgumentOutOfRangeException(nameof(schedule), schedule, "Unknown beta schedule."),
            };
        return rescale ? RescaleZeroTerminalSnr(betas) : betas;
    }

    /// <summary>
    /// torch.cumprod of a float32 tensor on the CPU: the running product is kept in a float64 accumulator
    /// (at::acc_type&lt;float, false&gt; is double) and each prefix is rounded to float32 as it is stored. A float32
    /// running product differs by up to 8e-7 on the release schedule.
    /// </summary>
    public static float[] CumulativeProduct(ReadOnlySpan<float> values)
    {
        var result = new float[values.Length];
        var product = 1.0;
        for (var i = 0; i < values.Length; i++)
        {
            product *= values[i];
            result[i] = (float)product;
        }

        return result;
    }

    /// <summary>1 - x elementwise in float32.</summary>
    public static float[] OneMinus(ReadOnlySpan<float> values)
    {
        var result = new float[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            result[i] = 1f - values[i];
        }

        return result;
    }

    /// <summary>
    /// "scaled_linear": torch.linspace(beta_start ** 0.5, beta_end ** 0.5, n, float32) ** 2. Python's
    /// <c>x ** 0.5</c> is C pow, which glibc rounds correctly, so it equals the correctly rounded Math.Sqrt; the
    /// square is a float32 x * x, as torch.pow(t, 2) computes it.
    /// </summary>
    private static float[] ScaledLinear(double betaStart, double betaEnd, int n)
    {
        var roots = TorchLinspace((float)Math.Sqrt(betaStart), (float)Math.Sqrt(betaEnd), n);
        for (var i = 0; i < roots.Length; i++)
        {
            roots[i] *= roots[i];
        }

        return roots;
    }

    /// <summary>
    /// "squaredcos_cap_v2": diffusers' betas_for_alpha_bar with the cosine alpha_bar(t) = cos((t + 0.008) / 1.008 * pi / 2) ** 2,
    /// beta_i = min(1 - alpha_bar((i + 1) / n) / alpha_bar(i / n), 0.999), in Python floats (float64, evaluated
    /// left to right), then stored as float32. Math.Cos is the platform's libm cos, as Python's math.cos is; glibc's
    /// is correctly rounded in practice, and a last-bit difference elsewhere would almost never survive the rounding
    /// to float32.
    /// </summary>
    private static float[] SquaredCosCapV2(int n)
    {
        const double MaxBeta = 0.999;
        static double AlphaBar(double t)
        {
            var c = Math.Cos((t + 0.008) / 1.008 * Math.PI / 2);
            return c * c;
        }

        var betas = new float[n];
        for (var i = 0; i < n; i++)
        {
            var t1 = (double)i / n;
            var t2 = (double)(i + 1) / n;
            betas[i] = (float)Math.Min(1 - (AlphaBar(t2) / AlphaBar(t1)), MaxBeta);
        }

        return betas;
    }

    /// <summary>
    /// diffusers' rescale_zero_terminal_snr in float32 tensor ops: s = sqrt(cumprod(1 - beta)); s -= s[-1];
    /// s *= s0 / (s0 - sT) (one float32 scalar); abar = s ** 2; alpha = [abar[0], abar[1:] / abar[:-1]]; beta = 1 - alpha.
    /// The last alphas_cumprod becomes exactly 0.
    /// </summary>
    private static float[] RescaleZeroTerminalSnr(float[] betas)
    {
        var root = CumulativeProduct(OneMinus(betas));
        for (var i = 0; i < root.Length; i++)
        {
            root[i] = MathF.Sqrt(root[i]);
        }

        float first = root[0], last = root[^1];
        var scale = first / (first - last);
        for (var i = 0; i < root.Length; i++)
        {
            root[i] = (root[i] - last) * scale;
        }

        var alphaBar = new float[root.Length];
        for (var i = 0; i < root.Length; i++)
        {
            alphaBar[i] = root[i] * root[i];
        }

        var rescaled = new float[root.Length];
        rescaled[0] = 1f - alphaBar[0];
        for (var i = 1; i < root.Length; i++)
        {
            rescaled[i] = 1f - (alphaBar[i] / alphaBar[i - 1]);
        }

        return rescaled;
    }

    /// <summary>
    /// torch.linspace(start, end, n, dtype=float32) on the CPU as PyTorch 1.13 computes it, which made the reference
    /// tables (and is what diffusers gets on an x86-64 machine with AVX2): step = (end - start) / (n - 1) in float32;
    /// element i is start + step * i for i &lt; n / 2 and end - step * (n - 1 - i) beyond, with the multiply-add
    /// fused (the AVX2 build is compiled with FMA contraction). The kernel writes 16 elements per round as two
    /// 8-lane vectors: each vector's first lane is computed as above, the other lanes as first + k * step (fused),
    /// k = 1..7; elements after the last whole round are computed one by one. Newer PyTorch computes every element
    /// one by one, which differs in the last bit of a few betas (at most 6e-8 in alphas_cumprod).
    /// </summary>
    private static float[] TorchLinspace(float start, float end, int n)
    {
        if (n == 1)
        {
            return [start];
        }

        const int Lanes = 8;
        var step = (end - start) / (n - 1);
        var halfway = n / 2;
        float Element(int i) => i < halfway
            ? MathF.FusedMultiplyAdd(step, i, start)
            : MathF.FusedMultiplyAdd(-step, n - 1 - i, end);

        var result = new float[n];
        var index = 0;
        for (; index <= n - (2 * Lanes); index += 2 * Lanes)
        {
            for (var vector = index; vector < index + (2 * Lanes); vector += Lanes)
            {
                var first = Element(vector);
                result[vector] = first;
                for (var k = 1; k < Lanes; k++)
                {
                    result[vector + k] = MathF.FusedMultiplyAdd(k, step, first);
                }
            }
        }

        for (; index < n; index++)
        {
            result[index] = Element(index);
        }

        return result;
    }
}
