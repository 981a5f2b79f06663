using System.Globalization;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Pipeline.Scheduling;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Cli.Commands.Verify;

/// <summary>
/// <c>verify scheduler</c>. A file holding a whole run (final_sample; the sampler fixtures' trajectories) is run by
/// the sampler the folder's <c>_class_name</c> names (<see cref="SamplerTrajectory"/>). A file of separate DDIM steps
/// (the scheduler fixtures' steps-30 files): the metadata gives num_inference_steps (and optionally eta, default 0);
/// each group stepN.t, stepN.model_output, stepN.sample is stepped and compared with stepN.prev_sample. With eta &gt; 0
/// the group must also hold the noise diffusers drew, stepN.variance_noise. The default bar is max_rel 1e-5 per tensor.
/// </summary>
internal sealed class SchedulerVerifier : IComponentVerifier
{
    public string Name => "scheduler";

    public string Help =>
        "a whole run (DDIM, DPM-Solver++, UniPC or Euler, as the folder's _class_name says): step0.sample, then\n"
        + "per step I stepI.model_output (fed in order) and stepI.prev_sample (compared; stepI.model_input too when\n"
        + "present), final_sample, timesteps, metadata num_inference_steps. Or separate DDIM steps: metadata\n"
        + "num_inference_steps (and eta, default 0) and for every N stepN.t, stepN.model_output, stepN.sample (with\n"
        + "eta > 0 also stepN.variance_noise); compares stepN.prev_sample. --model is a pipeline folder or its\n"
        + "scheduler folder; the default bar is max_rel 1e-5 per tensor.";

    public double? DefaultMaxRel => 1e-5;

    public void Run(VerifyRun run)
    {
        var configPath = run.Model.Get(ComponentKind.Scheduler).ConfigPath;
        if (SamplerTrajectory.Holds(run.Io))
        {
            SamplerTrajectory.Run(run, configPath);
            return;
        }

        var declared = Samplers.Declared(configPath);
        if (declared != SamplerKind.Ddim)
        {
            throw new ModelFileException(
                $"{run.Io.Path} holds separate DDIM steps (stepN.t) but {configPath} names a {declared.ClassName()}; "
                + "separate steps are checked for DDIM only (a multistep sampler needs the whole run, with final_sample).",
                run.Io.Path);
        }

        var io = run.Io;
        var scheduler = new DDIMScheduler(run.Model.Scheduler);
        var trainSteps = scheduler.NumTrainTimesteps;
        var steps = ReadSteps(io, trainSteps);
        var eta = ReadEta(io);
        scheduler.SetTimesteps(steps);

        var groups = io.Names.Select(StepIndex).OfType<int>().Order().ToArray();
        if (groups.Length == 0)
        {
            throw new ModelFileException(
                $"{io.Path} has no tensor 'stepN.t' (expected, for each step N, stepN.t, stepN.model_output, stepN.sample and stepN.prev_sample).", io.Path);
        }

        run.Context.Error.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"cudai2v verify: DDIM {string.Join(' ', run.Model.Scheduler.Summary().Select(p => $"{p.Name}={p.Value}"))}; {steps} steps, eta {eta}"));
        foreach (var n in groups)
        {
            var prefix = $"step{n}.";
            var t = io.Integer(prefix + "t");
            if (t < 0 || t >= trainSteps)
            {
                throw new ModelFileException($"{io.Path}: '{prefix}t' is {t}; expected a timestep in [0, {trainSteps - 1}].", io.Path, prefix + "t");
            }

            var modelOutput = io.Require(prefix + "model_output", "the model output, of the sample's shape");
            var shape = modelOutput.Shape;
            var sample = io.Require(prefix + "sample", shape, "the model output's shape");
            var expected = io.Require(prefix + "prev_sample", shape, "the model output's shape");
            var noise = eta > 0 ? io.Require(prefix + "variance_noise", shape, "standard-normal noise for eta > 0, of the model output's shape").To(DType.F32) : null;
            var actual = scheduler.Step(modelOutput.To(DType.F32), (int)t, sample.To(DType.F32), eta, varianceNoise: noise);
            run.Report.Add(prefix + "prev_sample", actual, expected);
        }
    }

    private static int ReadSteps(IoFile io, int trainSteps)
    {
        const string Key = "num_inference_steps";
        var text = io.RequireMetadata(Key, $"the step count the steps were taken with, 1 to {trainSteps}");
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var steps) && steps >= 1 && steps <= trainSteps
            ? steps
            : throw new ModelFileException($"{io.Path}: metadata '{Key}' is \"{text}\"; expected a whole number from 1 to {trainSteps}.", io.Path, Key);
    }

    private static float ReadEta(IoFile io)
    {
        const string Key = "eta";
        var text = io.Metadata(Key);
        if (text is null)
        {
            return 0f;
        }

        return float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var eta) && eta >= 0 && float.IsFinite(eta)
            ? eta
            : throw new ModelFileException($"{io.Path}: metadata '{Key}' is \"{text}\"; expected a number >= 0.", io.Path, Key);
    }

    /// <summary>N for a tensor named "stepN.t", else null.</summary>
    private static int? StepIndex(string name) =>
        name.StartsWith("step", StringComparison.Ordinal) && name.EndsWith(".t", StringComparison.Ordinal)
        && int.TryParse(name.AsSpan(4, name.Length - 6), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
            ? index
            : null;
}
