namespace CudaI2V.Kernels;

/// <summary>
/// How one step turns the UNet output into the solver's prediction (see <see cref="IOps.SamplerPredict"/>):
/// <c>prediction = SampleWeight * x + OutputWeight * m</c>, where m is the model output, after classifier-free
/// guidance when <see cref="Guidance"/> is set. Every multistep sampler's conversion of an epsilon, v or sample
/// prediction into x0 has this form (for example epsilon: x0 = (x - sigma_t m) / alpha_t).
/// </summary>
/// <param name="SampleWeight">The weight of the latents x; 0 means x is not read.</param>
/// <param name="OutputWeight">The weight of the (guided) model output m; 0 means the output is not read.</param>
/// <param name="Guidance">The guidance scale g when the model output holds an unconditional then a conditional half (m = u + g (c - u)); null when it holds one prediction.</param>
public readonly record struct SamplerPrediction(float SampleWeight, float OutputWeight, float? Guidance = null);

/// <summary>
/// The weights of one linear combination over a base sample and the newest three predictions of the history
/// (<c>History0</c> is this step's). A weight of exactly 0 means its term is not read at all, so a history slot
/// that holds nothing yet may sit behind it.
/// </summary>
/// <param name="Sample">The weight of the base sample (the latents, or for a corrector the last sample).</param>
/// <param name="History0">The weight of this step's prediction.</param>
/// <param name="History1">The weight of the previous step's prediction.</param>
/// <param name="History2">The weight of the prediction before that.</param>
public readonly record struct SamplerWeights(float Sample, float History0 = 0f, float History1 = 0f, float History2 = 0f)
{
    /// <summary>The weight of history entry <paramref name="k"/> (0 to 2).</summary>
    public float History(int k) => k switch
    {
        0 => History0,
        1 => History1,
        2 => History2,
        _ => throw new ArgumentOutOfRangeException(nameof(k), k, "The history holds three entries (0 to 2)."),
    };

    /// <summary>How many history entries the combination reads: the index of the last non-zero history weight, plus 1.</summary>
    public int HistoryUsed => History2 != 0 ? 3 : History1 != 0 ? 2 : History0 != 0 ? 1 : 0;

    /// <summary>True when every weight is a finite number.</summary>
    public bool IsFinite => float.IsFinite(Sample) && float.IsFinite(History0) && float.IsFinite(History1) && float.IsFinite(History2);
}

/// <summary>
/// One step's update of the latents from the history of predictions (see <see cref="IOps.SamplerCombine"/>):
/// <c>base = Correction is null ? x : Correction.Sample * last + sum_k Correction.History(k) * h_k</c> (UniPC's
/// corrector), the last sample becomes base, then <c>x = Update.Sample * base + sum_k Update.History(k) * h_k</c> and
/// the next UNet input is <c>InputScale * x</c> (Euler's scale_model_input; 1 elsewhere).
/// </summary>
/// <param name="Update">The new latents' weights (Sample weighs the base).</param>
/// <param name="Correction">The corrector's weights (Sample weighs the last sample), or null for base = x.</param>
/// <param name="InputScale">The factor of the next UNet input.</param>
public readonly record struct SamplerCombination(SamplerWeights Update, SamplerWeights? Correction = null, float InputScale = 1f)
{
    /// <summary>Leaves the latents as they are and writes <paramref name="inputScale"/> times them as the UNet input (a run's first input).</summary>
    public static SamplerCombination Identity(float inputScale = 1f) => new(new SamplerWeights(1f), null, inputScale);

    /// <summary>How many history entries the update and the corrector read together.</summary>
    public int HistoryUsed => Math.Max(Update.HistoryUsed, Correction?.HistoryUsed ?? 0);
}

/// <summary>
/// The host reference of the two sampler ops: every value is a separately rounded float32 operation, terms added
/// left to right in the order the records list them, skipping terms whose weight is 0. <c>SamplerStep.cu</c> computes
/// the same operations in the same order with the non-contracting <c>__f*_rn</c> intrinsics (and .NET never contracts
/// float operations into fused multiply-adds), so the CPU and the GPU agree bit for bit from the same model output.
/// </summary>
public static class SamplerUpdate
{
    /// <summary>The most history entries a combination reads.</summary>
    public const int MaxHistory = 3;

    /// <summary>Writes <c>prediction = a x + b m</c> (n values), with m guided when the settings carry a guidance scale.</summary>
    /// <param name="settings">The weights and guidance.</param>
    /// <param name="modelOutput">n values, or with guidance 2n: the unconditional half, then the conditional half.</param>
    /// <param name="sample">The latents x, n values.</param>
    /// <param name="prediction">Receives the prediction, n values (not overlapping the inputs).</param>
    /// <exception cref="ArgumentException">The lengths do not fit together.</exception>
    public static void Predict(in SamplerPrediction settings, ReadOnlySpan<float> modelOutput, ReadOnlySpan<float> sample, Span<float> prediction)
    {
        var n = sample.Length;
        var halves = settings.Guidance is null ? 1 : 2;
        if (modelOutput.Length != halves * n || prediction.Length != n)
        {
            throw new ArgumentException(
                $"A sampler prediction over {n} values takes a model output of {halves * n} values and writes {n}; got {modelOutput.Length} and {prediction.Length}.",
                nameof(modelOutput));
        }

        var (a, b) = (settings.SampleWeight, settings.OutputWeight);
        var g = settings.Guidance ?? 0f;
        for (var i = 0; i < n; i++)
        {
            var value = 0f;
            if (a != 0)
            {
                value += a * sample[i];
            }

            if (b != 0)
            {
                var m = modelOutput[i];
                if (halves == 2)
                {
                    m += g * (modelOutput[n + i] - m);
                }

                value += b * m;
            }

            prediction[i] = value;
        }
    }

    /// <summary>
    /// Applies <paramref name="combination"/> to n latents in place; writes the base sample to <paramref name="last"/>
    /// when it is not empty (it is read first when the combination has a corrector).
    /// </summary>
    /// <param name="combination">The step's weights.</param>
    /// <param name="latents">x, replaced by the new latents.</param>
    /// <param name="h0">This step's prediction (empty when no weight reads it).</param>
    /// <param name="h1">The previous prediction (or empty).</param>
    /// <param name="h2">The one before (or empty).</param>
    /// <param name="last">The last sample (UniPC), read by a corrector and replaced by the base sample; or empty.</param>
    /// <exception cref="ArgumentException">A weighted term has no values, or the lengths differ.</exception>
    public static void Combine(in SamplerCombination combination, Span<float> latents, ReadOnlySpan<float> h0, ReadOnlySpan<float> h1, ReadOnlySpan<float> h2, Span<float> last)
    {
        var n = latents.Length;
        var used = combination.HistoryUsed;
        if ((used > 0 && h0.Length != n) || (used > 1 && h1.Length != n) || (used > 2 && h2.Length != n)
            || !(last.IsEmpty || last.Length == n) || (combination.Correction is not null && last.Length != n))
        {
            throw new ArgumentException(
                $"A sampler combination over {n} latents reading {used} history entries{(combination.Correction is null ? "" : " and the last sample")} got history of {h0.Length}, {h1.Length} and {h2.Length} values and a last sample of {last.Length}.",
                nameof(latents));
        }

        var update = combination.Update;
        for (var i = 0; i < n; i++)
        {
            var x = latents[i];
            if (combination.Correction is { } c)
            {
                x = Sum(c, last[i], h0, h1, h2, i);
            }

            if (!last.IsEmpty)
            {
                last[i] = x;
            }

            latents[i] = Sum(update, x, h0, h1, h2, i);
        }
    }

    private static float Sum(in SamplerWeights w, float sample, ReadOnlySpan<float> h0, ReadOnlySpan<float> h1, ReadOnlySpan<float> h2, int i)
    {
        var value = 0f;
        if (w.Sample != 0)
        {
            value += w.Sample * sample;
        }

        if (w.History0 != 0)
        {
            value += w.History0 * h0[i];
        }

        if (w.History1 != 0)
        {
            value += w.History1 * h1[i];
        }

        if (w.History2 != 0)
        {
            value += w.History2 * h2[i];
        }

        return value;
    }
}
