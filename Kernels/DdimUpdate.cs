namespace CudaI2V.Kernels;

/// <summary>What the model predicts (diffusers' prediction_type); the values are DdimStep.cu's.</summary>
public enum DdimPrediction
{
    /// <summary>The noise ("epsilon").</summary>
    Epsilon = 0,

    /// <summary>The velocity ("v_prediction"; I2VGen-XL).</summary>
    VPrediction = 1,

    /// <summary>The clean sample ("sample").</summary>
    Sample = 2,
}

/// <summary>
/// The float32 scalars of one DDIM step, exactly those of the pipeline's <c>DDIMScheduler.GetStepScalars</c>
/// (<c>DDIMStepScalars</c>), which this project cannot reference.
/// </summary>
/// <param name="SqrtAlphaProdT">sqrt(alphas_cumprod[t]).</param>
/// <param name="SqrtBetaProdT">sqrt(1 - alphas_cumprod[t]).</param>
/// <param name="SqrtAlphaProdTPrev">sqrt(alphas_cumprod[prev]): the weight of the predicted clean sample.</param>
/// <param name="DirectionCoefficient">sqrt(1 - alpha_prev - std_dev_t^2): the weight of the predicted noise.</param>
/// <param name="StdDevT">eta * sqrt(variance): the weight of the noise (used only when noise is given).</param>
public readonly record struct DdimCoefficients(
    float SqrtAlphaProdT,
    float SqrtBetaProdT,
    float SqrtAlphaProdTPrev,
    float DirectionCoefficient,
    float StdDevT);

/// <summary>Everything one DDIM step needs besides tensors (see <see cref="IOps.DdimStep"/>).</summary>
/// <param name="Prediction">What the model predicts.</param>
/// <param name="Coefficients">The step's scalars.</param>
/// <param name="Guidance">The classifier-free guidance scale g when the model output holds an unconditional then a conditional half; null when it holds one prediction.</param>
/// <param name="ClipRange">Clamp the predicted clean sample to ±this (diffusers' clip_sample), or null.</param>
public readonly record struct DdimStepSettings(DdimPrediction Prediction, DdimCoefficients Coefficients, float? Guidance = null, float? ClipRange = null);

/// <summary>
/// The host reference of one DDIM step with classifier-free guidance: every value is a separately rounded float32
/// operation, in diffusers' order. <c>DdimStep.cu</c> computes the same operations in the same order with the
/// non-contracting <c>__f*_rn</c> intrinsics (and .NET never contracts float operations into fused multiply-adds),
/// so the CPU and the GPU agree bit for bit on the latents from the same model output.
/// </summary>
public static class DdimUpdate
{
    /// <summary>
    /// Writes x_prev to <paramref name="previous"/> (n values; may alias <paramref name="sample"/>):
    /// m = guided ? u + g * (c - u) : output; x0 and eps from (m, x) by the prediction type; x0 clamped when asked
    /// (NaN passes through, as torch.clamp); x_prev = sqrt(alpha_prev) * x0 + direction * eps, plus std_dev_t * noise
    /// when <paramref name="noise"/> is not empty.
    /// </summary>
    /// <param name="settings">The step.</param>
    /// <param name="modelOutput">n values, or with guidance 2n: the unconditional half, then the conditional half.</param>
    /// <param name="sample">x_t, n values.</param>
    /// <param name="previous">Receives x_prev, n values.</param>
    /// <param name="noise">n standard-normal values, or empty for none.</param>
    /// <exception cref="ArgumentException">The lengths do not fit together.</exception>
    public static void Apply(in DdimStepSettings settings, ReadOnlySpan<float> modelOutput, ReadOnlySpan<float> sample, Span<float> previous, ReadOnlySpan<float> noise = default)
    {
        var n = sample.Length;
        var halves = settings.Guidance is null ? 1 : 2;
        if (modelOutput.Length != halves * n || previous.Length != n || !(noise.IsEmpty || noise.Length == n))
        {
            throw new ArgumentException(
                $"A DDIM step on {n} values takes a model output of {halves * n} values{(halves == 2 ? " (two halves for guidance)" : "")}, " +
                $"{n} values for the previous sample and {n} or no noise values; got {modelOutput.Length}, {previous.Length} and {noise.Length}.",
                nameof(modelOutput));
        }

        var c = settings.Coefficients;
        var guidance = settings.Guidance ?? 0f;
        for (var i = 0; i < n; i++)
        {
            var m = modelOutput[i];
            if (halves == 2)
            {
                m += guidance * (modelOutput[n + i] - m);
            }

            var x = sample[i];
            var (original, epsilon) = settings.Prediction switch
            {
                DdimPrediction.Epsilon => ((x - (c.SqrtBetaProdT * m)) / c.SqrtAlphaProdT, m),
                DdimPrediction.VPrediction => ((c.SqrtAlphaProdT * x) - (c.SqrtBetaProdT * m), (c.SqrtAlphaProdT * m) + (c.SqrtBetaProdT * x)),
                DdimPrediction.Sample => (m, (x - (c.SqrtAlphaProdT * m)) / c.SqrtBetaProdT),
                _ => throw new ArgumentOutOfRangeException(nameof(settings), settings.Prediction, "Not a DDIM prediction type."),
            };
            if (settings.ClipRange is { } range)
            {
                // torch.clamp(x, -r, r) = min(max(x, -r), r), NaN passing through.
                original = MathF.Min(MathF.Max(original, -range), range);
            }

            var next = (c.SqrtAlphaProdTPrev * original) + (c.DirectionCoefficient * epsilon);
            if (!noise.IsEmpty)
            {
                next += c.StdDevT * noise[i];
            }

            previous[i] = next;
        }
    }
}
