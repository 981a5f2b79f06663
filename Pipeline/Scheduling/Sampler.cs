using CudaI2V.Kernels;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Scheduling;

/// <summary>
/// A denoising sampler as the engine drives it: one of diffusers' schedulers (<see cref="Kind"/>) built from a
/// scheduler config, whose steps run on a backend through <see cref="IOps"/> with the latents in F32. Made by
/// <see cref="Samplers.Create(string?, string)"/>.
/// </summary>
/// <remarks>
/// Use: <see cref="SetTimesteps"/>; the initial latents are standard-normal noise times <see cref="InitNoiseSigma"/>;
/// <see cref="Start"/> a run (before any per-step memory scope: it allocates the history it keeps between steps);
/// <see cref="SamplerRun.WriteInput"/> the first UNet input; then for each of <see cref="Timesteps"/> evaluate the UNet
/// at that (possibly fractional) timestep and call <see cref="SamplerRun.Step"/>, which also writes the next input.
/// </remarks>
public abstract class Sampler
{
    private protected Sampler()
    {
    }

    /// <summary>Which scheduler this is.</summary>
    public abstract SamplerKind Kind { get; }

    /// <summary>The <c>--sampler</c> word (ddim, dpmpp-2m, unipc, euler).</summary>
    public string Name => Kind.OptionName();

    /// <summary>diffusers' class name.</summary>
    public string ClassName => Kind.ClassName();

    /// <summary>Training timesteps T.</summary>
    public abstract int NumTrainTimesteps { get; }

    /// <summary>
    /// The timesteps the UNet is evaluated at, one per step, largest first (empty before <see cref="SetTimesteps"/>).
    /// Whole numbers except Euler's with "linspace" spacing or Karras sigmas, which diffusers passes as float32.
    /// </summary>
    public abstract IReadOnlyList<float> Timesteps { get; }

    /// <summary>The number of steps of the last <see cref="SetTimesteps"/> (0 before it).</summary>
    public int NumInferenceSteps => Timesteps.Count;

    /// <summary>The standard deviation of the initial noise: 1, or for Euler its largest sigma (see <see cref="EulerSampler"/>).</summary>
    public abstract float InitNoiseSigma { get; }

    /// <summary>
    /// How many F32 tensors of the latents' size a run keeps between steps (<see cref="Start"/> allocates them): 0 for
    /// DDIM, the history (and UniPC's last sample) for the multistep samplers. A request plans them with its memory.
    /// </summary>
    public virtual int StateSlots => 0;

    /// <summary>Chooses the timesteps (and sigmas) of a run of <paramref name="steps"/> steps, as diffusers' set_timesteps.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The count is below 1 or above T, or the schedule it gives cannot run (the message says why).</exception>
    public abstract void SetTimesteps(int steps);

    /// <summary>
    /// The factor of the UNet input at step <paramref name="index"/> (diffusers' scale_model_input): 1, except Euler's
    /// 1 / sqrt(sigma^2 + 1).
    /// </summary>
    public virtual float InputScale(int index)
    {
        RequireStep(index);
        return 1f;
    }

    /// <summary>
    /// Starts a run on <paramref name="ops"/> for latents of <paramref name="latentShape"/>: allocates what the run keeps
    /// between steps (the multistep history) in the backend's current memory scope.
    /// </summary>
    /// <param name="ops">The backend the latents live on.</param>
    /// <param name="latentShape">The F32 latents' shape (any layout: the updates are elementwise).</param>
    /// <param name="eta">DDIM's noise weight; the other samplers are deterministic and refuse anything but 0.</param>
    /// <exception cref="InvalidOperationException"><see cref="SetTimesteps"/> has not been called.</exception>
    public abstract SamplerRun Start(IOps ops, TensorShape latentShape, float eta = 0f);

    /// <summary>
    /// Keeps only the schedule's tail from step <paramref name="begin"/> (diffusers' img2img: the scheduler's timesteps
    /// from t_start with set_begin_index(t_start)): <see cref="Timesteps"/> become the tail, and a run starts there as a
    /// fresh one would (the multistep samplers' history and lower orders count from the tail's first step, their
    /// end-of-schedule rules from the whole schedule). Call after <see cref="SetTimesteps"/>, once.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="begin"/> is not a step of the schedule.</exception>
    public abstract void BeginAt(int begin);

    /// <summary>
    /// diffusers' add_noise at the current first step, as weights: noisy = Sample * x0 + Noise * noise. DDIM:
    /// sqrt(alpha_cumprod[t]) and sqrt(1 - alpha_cumprod[t]); DPM-Solver++ and UniPC: alpha_t and sigma_t of the step's
    /// sigma; Euler: 1 and sigma.
    /// </summary>
    public abstract (float Sample, float Noise) NoiseWeights();

    /// <summary>The settings worth printing (class, spacing, prediction type, ...), as (name, value) pairs.</summary>
    public abstract IEnumerable<(string Name, string Value)> Settings();

    /// <summary>Throws unless <paramref name="step"/> is one of the current steps.</summary>
    private protected void RequireStep(int step)
    {
        if (NumInferenceSteps == 0)
        {
            throw new InvalidOperationException($"Call SetTimesteps before using the {ClassName}'s steps.");
        }

        if (step < 0 || step >= NumInferenceSteps)
        {
            throw new ArgumentOutOfRangeException(nameof(step), step, $"The run has steps 0 to {NumInferenceSteps - 1}.");
        }
    }
}

/// <summary>
/// One run of a <see cref="Sampler"/> on a backend: it keeps what the steps carry from one to the next and executes
/// each step with the backend's fused ops. Steps are taken in order.
/// </summary>
public abstract class SamplerRun
{
    private protected SamplerRun(Sampler sampler, IOps ops, TensorShape latentShape)
    {
        Sampler = sampler;
        Ops = ops ?? throw new ArgumentNullException(nameof(ops));
        LatentShape = latentShape ?? throw new ArgumentNullException(nameof(latentShape));
    }

    /// <summary>The sampler and its schedule.</summary>
    public Sampler Sampler { get; }

    /// <summary>The backend.</summary>
    public IOps Ops { get; }

    /// <summary>The latents' shape.</summary>
    public TensorShape LatentShape { get; }

    /// <summary>The index of the step <see cref="Step"/> takes next.</summary>
    public int NextStep { get; private set; }

    /// <summary>True when each step needs standard-normal noise of the latents' shape (DDIM with eta &gt; 0).</summary>
    public virtual bool NeedsNoise => false;

    /// <summary>
    /// Writes the first UNet input: the latents times <see cref="Sampler.InputScale"/>(0) in the backend's activation
    /// dtype, repeated along axis 0 as <paramref name="nextInput"/>'s shape says (the latents are left as they are).
    /// </summary>
    public void WriteInput(Tensor latents, Tensor nextInput)
    {
        ArgumentNullException.ThrowIfNull(nextInput);
        Ops.SamplerCombine(latents, [], SamplerCombination.Identity(Sampler.InputScale(0)), null, nextInput);
    }

    /// <summary>
    /// Takes step <see cref="NextStep"/>: classifier-free guidance of <paramref name="modelOutput"/> (when
    /// <paramref name="guidance"/> is set), the sampler's update of the F32 <paramref name="latents"/> in place, and the
    /// next UNet input (scaled for the next step) into <paramref name="nextInput"/>.
    /// </summary>
    /// <param name="modelOutput">The UNet output at <see cref="Sampler.Timesteps"/>[<see cref="NextStep"/>], in the activation dtype; guided: [unconditional ; conditional] along axis 0.</param>
    /// <param name="latents">The F32 latents, updated in place.</param>
    /// <param name="guidance">The guidance scale, or null for an unguided output.</param>
    /// <param name="nextInput">Receives the next UNet input (the latents' shape repeated k times along axis 0), or null.</param>
    /// <param name="noise">F32 standard-normal noise of the latents' shape when <see cref="NeedsNoise"/>, else null.</param>
    /// <exception cref="InvalidOperationException">Every step has been taken.</exception>
    public void Step(Tensor modelOutput, Tensor latents, float? guidance, Tensor? nextInput = null, Tensor? noise = null)
    {
        if (NextStep >= Sampler.NumInferenceSteps)
        {
            throw new InvalidOperationException($"All {Sampler.NumInferenceSteps} steps of this {Sampler.ClassName} run have been taken.");
        }

        if ((noise is not null) != NeedsNoise)
        {
            throw new ArgumentException(
                NeedsNoise ? "This DDIM run has eta > 0: pass the step's standard-normal noise." : $"The {Sampler.ClassName} takes no noise in this run; pass null.",
                nameof(noise));
        }

        Execute(NextStep, modelOutput, latents, guidance, nextInput, noise);
        NextStep++;
    }

    /// <summary>Runs step <paramref name="index"/> on the backend.</summary>
    private protected abstract void Execute(int index, Tensor modelOutput, Tensor latents, float? guidance, Tensor? nextInput, Tensor? noise);
}
