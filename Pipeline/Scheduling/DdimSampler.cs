using CudaI2V.Kernels;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Scheduling;

/// <summary>
/// The release's DDIM as a <see cref="Sampler"/>: <see cref="DDIMScheduler"/>'s tables and step scalars, each step one
/// fused <see cref="IOps.DdimStep"/> (bit for bit the host scheduler). It keeps nothing between steps.
/// </summary>
public sealed class DdimSampler : Sampler
{
    private float[] _timesteps = [];
    private int _begin;

    /// <summary>Builds the DDIM scheduler of <paramref name="config"/>.</summary>
    public DdimSampler(SchedulerConfig config)
    {
        Scheduler = new DDIMScheduler(config);
    }

    /// <summary>The host scheduler.</summary>
    public DDIMScheduler Scheduler { get; }

    /// <inheritdoc/>
    public override SamplerKind Kind => SamplerKind.Ddim;

    /// <inheritdoc/>
    public override int NumTrainTimesteps => Scheduler.NumTrainTimesteps;

    /// <inheritdoc/>
    public override IReadOnlyList<float> Timesteps => _timesteps;

    /// <inheritdoc/>
    public override float InitNoiseSigma => DDIMScheduler.InitNoiseSigma;

    /// <inheritdoc/>
    public override void SetTimesteps(int steps)
    {
        Scheduler.SetTimesteps(steps);
        _timesteps = Scheduler.Timesteps.Select(t => (float)t).ToArray();
        _begin = 0;
    }

    /// <inheritdoc/>
    public override void BeginAt(int begin)
    {
        RequireStep(begin);
        _begin += begin;
        _timesteps = _timesteps[begin..];
    }

    /// <inheritdoc/>
    public override (float Sample, float Noise) NoiseWeights()
    {
        RequireStep(0);
        var alphaProd = Scheduler.AlphasCumprod[Scheduler.Timesteps[_begin]];
        return (MathF.Sqrt(alphaProd), MathF.Sqrt(1f - alphaProd));
    }

    /// <inheritdoc/>
    public override SamplerRun Start(IOps ops, TensorShape latentShape, float eta = 0f)
    {
        if (NumInferenceSteps == 0)
        {
            throw new InvalidOperationException("Call SetTimesteps before starting a DDIMScheduler run.");
        }

        if (!(eta >= 0) || float.IsInfinity(eta))
        {
            throw new ArgumentOutOfRangeException(nameof(eta), eta, "eta must be a finite number >= 0 (0 is deterministic DDIM, 1 is DDPM-like).");
        }

        return new DdimRun(this, ops, latentShape, eta);
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Name, string Value)> Settings() => Scheduler.Config.Summary().Prepend(("class", ClassName));

    private sealed class DdimRun(DdimSampler sampler, IOps ops, TensorShape latentShape, float eta) : SamplerRun(sampler, ops, latentShape)
    {
        public override bool NeedsNoise => eta > 0;

        private protected override void Execute(int index, Tensor modelOutput, Tensor latents, float? guidance, Tensor? nextInput, Tensor? noise) =>
            Ops.DdimStep(modelOutput, latents, sampler.Scheduler.StepSettings(sampler.Scheduler.Timesteps[sampler._begin + index], eta, guidance), noise, nextInput);
    }
}
