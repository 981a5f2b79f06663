using System.Buffers;
using CudaI2V.Kernels;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Pipeline.Noise;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Scheduling;

/// <summary>
/// diffusers' DDIMScheduler (the version that made the fixtures, 0.26) on host float32 values, for any config it
/// reads: linear, scaled_linear and squaredcos_cap_v2 betas or trained_betas, the zero-terminal-SNR rescale,
/// leading / trailing / linspace spacing, epsilon / v_prediction / sample predictions, clip_sample, and eta &gt;= 0.
/// Tables and step scalars are computed in PyTorch's precision and order, so they equal diffusers' bit for bit;
/// the elementwise update uses the same float32 operations in the same order (no fused multiply-adds).
/// </summary>
/// <remarks>
/// Use as diffusers does: <see cref="SetTimesteps"/>, then <see cref="Step(ReadOnlySpan{float}, int, ReadOnlySpan{float}, Span{float}, float, ReadOnlySpan{float})"/>
/// at each of <see cref="Timesteps"/>. The update is elementwise, so tensors of any shape and layout work as long as
/// model output, sample, noise and result share one. Dynamic thresholding is refused; diffusers'
/// use_clipped_model_output option is not offered (the pipeline never sets it).
/// </remarks>
public sealed class DDIMScheduler
{
    /// <summary>The standard deviation of the initial noise (1 for DDIM).</summary>
    public const float InitNoiseSigma = 1f;

    private readonly float[] _betas;
    private readonly float[] _alphasCumprod;
    private int[] _timesteps = [];

    /// <summary>Builds the tables of <paramref name="config"/>.</summary>
    /// <exception cref="ModelFileException">The config asks for dynamic thresholding ('thresholding': true).</exception>
    public DDIMScheduler(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Thresholding)
        {
            throw new ModelFileException(
                $"{config.Path}: 'thresholding' is true, but CudaI2V's DDIM scheduler does not support diffusers' dynamic thresholding; "
                + "set 'thresholding' to false (clip_sample is supported).",
                config.Path,
                "thresholding");
        }

        Config = config;
        _betas = BetaSchedules.Betas(config);
        _alphasCumprod = BetaSchedules.CumulativeProduct(BetaSchedules.OneMinus(_betas));
        FinalAlphaCumprod = config.SetAlphaToOne ? 1f : _alphasCumprod[0];
    }

    /// <summary>The config the tables were built from.</summary>
    public SchedulerConfig Config { get; }

    /// <summary>Training timesteps T: the length of every table.</summary>
    public int NumTrainTimesteps => Config.NumTrainTimesteps;

    /// <summary>The T betas (float32), after the zero-SNR rescale when the config asks for it.</summary>
    public IReadOnlyList<float> Betas => _betas;

    /// <summary>The T cumulative products of 1 - beta (float32), as torch.cumprod computes them on the CPU.</summary>
    public IReadOnlyList<float> AlphasCumprod => _alphasCumprod;

    /// <summary>The "previous" alpha product of the last step: 1 with set_alpha_to_one, else alphas_cumprod[0].</summary>
    public float FinalAlphaCumprod { get; }

    /// <summary>The step count of the last <see cref="SetTimesteps"/>, 0 before it.</summary>
    public int NumInferenceSteps { get; private set; }

    /// <summary>The inference timesteps, largest first (empty before <see cref="SetTimesteps"/>).</summary>
    public IReadOnlyList<int> Timesteps => _timesteps;

    /// <summary>
    /// Chooses the <paramref name="numInferenceSteps"/> timesteps by the config's timestep_spacing (diffusers'
    /// set_timesteps). One deliberate difference: where numpy's float arange gives "trailing" spacing one timestep
    /// too many (a final t = -1, for example with 61 of 1000 steps), only the first n are kept.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">
    /// The count is below 1 or above num_train_timesteps, or (leading spacing with a large steps_offset) a timestep
    /// would fall outside [0, num_train_timesteps), where diffusers would fail at its first step.
    /// </exception>
    public void SetTimesteps(int numInferenceSteps)
    {
        if (numInferenceSteps < 1 || numInferenceSteps > NumTrainTimesteps)
        {
            throw new ArgumentOutOfRangeException(
                nameof(numInferenceSteps),
                numInferenceSteps,
                $"The number of inference steps must be between 1 and num_train_timesteps ({NumTrainTimesteps}): the model was trained on {NumTrainTimesteps} timesteps and each step needs a distinct one.");
        }

        var timesteps = InferenceTimesteps.Compute(Config.TimestepSpacing, NumTrainTimesteps, numInferenceSteps, Config.StepsOffset);
        var outside = timesteps.Where(t => t < 0 || t >= NumTrainTimesteps).ToArray();
        if (outside.Length > 0)
        {
            throw new ArgumentOutOfRangeException(
                nameof(numInferenceSteps),
                numInferenceSteps,
                $"With steps_offset {Config.StepsOffset}, {numInferenceSteps} steps give timestep {outside[0]}, outside the {NumTrainTimesteps} training timesteps [0, {NumTrainTimesteps - 1}].");
        }

        _timesteps = timesteps;
        NumInferenceSteps = numInferenceSteps;
    }

    /// <summary>
    /// The float32 scalars of the step at <paramref name="timestep"/> with noise weight <paramref name="eta"/>, exactly
    /// as diffusers computes them (prev = t - T // n; every x ** 0.5 a float32 sqrt; std_dev_t = float32(eta) * sqrt(variance)).
    /// </summary>
    /// <exception cref="InvalidOperationException"><see cref="SetTimesteps"/> has not been called.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The timestep is outside [0, T), or eta is negative or not finite.</exception>
    public DDIMStepScalars GetStepScalars(int timestep, float eta = 0f)
    {
        if (NumInferenceSteps == 0)
        {
            throw new InvalidOperationException("Call SetTimesteps before Step: the previous timestep depends on the number of inference steps.");
        }

        if (timestep < 0 || timestep >= NumTrainTimesteps)
        {
            throw new ArgumentOutOfRangeException(nameof(timestep), timestep, $"A timestep must be in [0, {NumTrainTimesteps - 1}].");
        }

        if (!(eta >= 0) || float.IsInfinity(eta))
        {
            throw new ArgumentOutOfRangeException(nameof(eta), eta, "eta must be a finite number >= 0 (0 is deterministic DDIM, 1 is DDPM-like).");
        }

        var previous = timestep - (NumTrainTimesteps / NumInferenceSteps);
        var alphaProdT = _alphasCumprod[timestep];
        var alphaProdTPrev = previous >= 0 ? _alphasCumprod[previous] : FinalAlphaCumprod;
        var betaProdT = 1f - alphaProdT;
        var betaProdTPrev = 1f - alphaProdTPrev;
        var variance = betaProdTPrev / betaProdT * (1f - (alphaProdT / alphaProdTPrev));
        var stdDevT = eta * MathF.Sqrt(variance);
        return new DDIMStepScalars(
            timestep,
            previous,
            alphaProdT,
            alphaProdTPrev,
            MathF.Sqrt(alphaProdT),
            MathF.Sqrt(betaProdT),
            MathF.Sqrt(alphaProdTPrev),
            variance,
            stdDevT,
            MathF.Sqrt(1f - alphaProdTPrev - (stdDevT * stdDevT)));
    }

    /// <summary>
    /// The step at <paramref name="timestep"/> as a backend op takes it (<see cref="IOps.DdimStep"/>): this config's
    /// prediction type and clipping with <see cref="GetStepScalars"/>'s coefficients, and the classifier-free
    /// <paramref name="guidance"/> scale when the model output holds an unconditional and a conditional half.
    /// </summary>
    public DdimStepSettings StepSettings(int timestep, float eta = 0f, float? guidance = null)
    {
        var s = GetStepScalars(timestep, eta);
        var prediction = Config.PredictionType switch
        {
            PredictionType.Epsilon => DdimPrediction.Epsilon,
            PredictionType.VPrediction => DdimPrediction.VPrediction,
            PredictionType.Sample => DdimPrediction.Sample,
            _ => throw new InvalidOperationException($"Unknown prediction type {Config.PredictionType}."),
        };
        return new DdimStepSettings(
            prediction,
            new DdimCoefficients(s.SqrtAlphaProdT, s.SqrtBetaProdT, s.SqrtAlphaProdTPrev, s.DirectionCoefficient, s.StdDevT),
            guidance,
            Config.ClipSample ? (float)Config.ClipSampleRange : null);
    }

    /// <summary>
    /// One DDIM step (diffusers' step): from the model's output at <paramref name="timestep"/> and the current sample
    /// x_t, writes x_prev to <paramref name="prevSample"/>. With the config's prediction type: x0 and eps from
    /// (model_output, sample); x0 clipped to ±clip_sample_range when clip_sample; x_prev = sqrt(alpha_prev) * x0 +
    /// sqrt(1 - alpha_prev - std^2) * eps, plus std * noise when eta &gt; 0.
    /// </summary>
    /// <param name="modelOutput">The model's prediction (noise, velocity or clean sample), n values.</param>
    /// <param name="timestep">The current timestep (normally one of <see cref="Timesteps"/>).</param>
    /// <param name="sample">x_t, n values.</param>
    /// <param name="prevSample">Receives x_prev, n values; may be the same memory as <paramref name="sample"/> or <paramref name="modelOutput"/>.</param>
    /// <param name="eta">Weight of the added noise: 0 is deterministic DDIM.</param>
    /// <param name="varianceNoise">n standard-normal values, required when eta &gt; 0 and ignored otherwise.</param>
    /// <exception cref="ArgumentException">The spans differ in length, or eta &gt; 0 without noise.</exception>
    public void Step(ReadOnlySpan<float> modelOutput, int timestep, ReadOnlySpan<float> sample, Span<float> prevSample, float eta = 0f, ReadOnlySpan<float> varianceNoise = default)
    {
        var settings = StepSettings(timestep, eta);
        var n = sample.Length;
        if (modelOutput.Length != n || prevSample.Length != n)
        {
            throw new ArgumentException(
                $"model_output ({modelOutput.Length} values), sample ({n}) and prev_sample ({prevSample.Length}) must have the same length.", nameof(prevSample));
        }

        var addNoise = eta > 0;
        if (addNoise && varianceNoise.Length != n)
        {
            throw new ArgumentException(
                $"eta = {eta} adds noise: pass {n} standard-normal values as varianceNoise (got {varianceNoise.Length}) or use the overload with a generator.",
                nameof(varianceNoise));
        }

        DdimUpdate.Apply(settings, modelOutput, sample, prevSample, addNoise ? varianceNoise : default);
    }

    /// <summary>
    /// One DDIM step whose noise (when eta &gt; 0) is drawn from <paramref name="generator"/>: n standard-normal values
    /// in element order, as torch.randn fills a tensor. With eta = 0 nothing is drawn.
    /// </summary>
    /// <param name="modelOutput">The model's prediction (noise, velocity or clean sample), n values.</param>
    /// <param name="timestep">The current timestep (normally one of <see cref="Timesteps"/>).</param>
    /// <param name="sample">x_t, n values.</param>
    /// <param name="prevSample">Receives x_prev, n values; may be the same memory as <paramref name="sample"/> or <paramref name="modelOutput"/>.</param>
    /// <param name="eta">Weight of the added noise: 0 is deterministic DDIM.</param>
    /// <param name="generator">Draws the n noise values when eta &gt; 0.</param>
    public void Step(ReadOnlySpan<float> modelOutput, int timestep, ReadOnlySpan<float> sample, Span<float> prevSample, float eta, SeededRandom generator)
    {
        ArgumentNullException.ThrowIfNull(generator);
        if (!(eta > 0))
        {
            Step(modelOutput, timestep, sample, prevSample, eta);
            return;
        }

        var buffer = ArrayPool<float>.Shared.Rent(sample.Length);
        try
        {
            var noise = buffer.AsSpan(0, sample.Length);
            generator.FillStandardNormal(noise);
            Step(modelOutput, timestep, sample, prevSample, eta, noise);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// One DDIM step on F32 host tensors of one shape; returns x_prev as a new tensor of that shape. Noise for
    /// eta &gt; 0 comes from <paramref name="varianceNoise"/> or <paramref name="generator"/> (exactly one of them, as in diffusers).
    /// </summary>
    /// <exception cref="ArgumentException">Shapes or dtypes differ, or eta &gt; 0 with neither or both noise sources.</exception>
    public Tensor Step(Tensor modelOutput, int timestep, Tensor sample, float eta = 0f, SeededRandom? generator = null, Tensor? varianceNoise = null)
    {
        ArgumentNullException.ThrowIfNull(modelOutput);
        ArgumentNullException.ThrowIfNull(sample);
        RequireF32(modelOutput, sample, nameof(modelOutput));
        if (varianceNoise is not null)
        {
            RequireF32(varianceNoise, sample, nameof(varianceNoise));
        }

        if (generator is not null && varianceNoise is not null)
        {
            throw new ArgumentException("Pass either a generator or varianceNoise, not both (diffusers refuses both too).", nameof(varianceNoise));
        }

        var result = Tensor.Zeros(DType.F32, sample.Shape);
        var output = modelOutput.Contiguous().AsSpan<float>();
        var current = sample.Contiguous().AsSpan<float>();
        if (generator is not null)
        {
            Step(output, timestep, current, result.AsSpan<float>(), eta, generator);
        }
        else
        {
            var noise = varianceNoise is null ? default : varianceNoise.Contiguous().AsSpan<float>();
            Step(output, timestep, current, result.AsSpan<float>(), eta, noise);
        }

        return result;
    }

    private static void RequireF32(Tensor tensor, Tensor sample, string name)
    {
        if (tensor.DType != DType.F32 || sample.DType != DType.F32 || tensor.Shape != sample.Shape)
        {
            throw new ArgumentException(
                $"{name} is a {tensor.DType} tensor of shape {tensor.Shape}; the step needs F32 tensors of the sample's shape {sample.Shape} (sample is {sample.DType}).",
                name);
        }
    }
}
