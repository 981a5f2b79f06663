using System.Globalization;
using CudaI2V.Kernels.Cpu;
using CudaI2V.Loader;
using CudaI2V.Pipeline.Scheduling;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Cli.Commands.Verify;

/// <summary>
/// <c>verify scheduler</c> on a whole recorded run (the fixtures' trajectory-N.safetensors): the sampler the folder's
/// <c>_class_name</c> names starts from step0.sample and is fed each recorded stepI.model_output in order, carrying its
/// own latents (and multistep history) from step to step; every stepI.prev_sample, stepI.model_input (when present),
/// the final_sample and the timesteps are compared.
/// </summary>
internal static class SamplerTrajectory
{
    /// <summary>True when the io file holds a whole run rather than DDIM's separate steps.</summary>
    public static bool Holds(IoFile io) => io.Names.Contains("final_sample");

    public static void Run(VerifyRun run, string configPath)
    {
        var io = run.Io;
        var sampler = Samplers.Create(null, configPath);
        var steps = ReadSteps(io, sampler.NumTrainTimesteps);
        sampler.SetTimesteps(steps);

        // The update runs in fp32 on the backend's sampler ops; a GPU backend holding fp16 or bf16 activations would
        // round the model outputs, so the CPU's ops run it then (--dtype fp32 runs the GPU's kernels).
        var ops = run.Ops.ActivationDType == DType.F32 ? run.Ops : new CpuOps();
        var where = ops == run.Ops ? ops.Name : $"cpu (the {run.Ops.Name} backend holds {run.Ops.ActivationDType} activations; --dtype fp32 runs its kernels)";
        run.Context.Error.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"cudai2v verify: {sampler.ClassName} {string.Join(' ', sampler.Settings().Where(p => p.Name != "class").Select(p => $"{p.Name}={p.Value}"))}; {steps} steps on {where}"));

        if (io.Names.Contains("timesteps"))
        {
            var recorded = io.Require("timesteps", "the run's timesteps");
            var ours = Tensor.FromSpan<float>(sampler.Timesteps.ToArray(), new TensorShape(sampler.NumInferenceSteps));
            run.Report.Add("timesteps", ours, recorded.To(DType.F32).Reshape((int)recorded.ElementCount));
        }

        var first = io.Require("step0.sample", "the initial latents");
        var shape = first.Shape;
        if (shape.Rank < 1)
        {
            throw new ModelFileException($"{io.Path}: 'step0.sample' has shape {shape}; expected latents of rank 1 or more.", io.Path, "step0.sample");
        }

        var latents = ops.FromHost(first, DType.F32);
        var input = ops.Empty(ops.ActivationDType, shape);
        var samplerRun = sampler.Start(ops, shape);
        samplerRun.WriteInput(latents, input);
        for (var i = 0; i < steps; i++)
        {
            var prefix = $"step{i}.";
            if (io.Names.Contains(prefix + "model_input"))
            {
                run.Report.Add(prefix + "model_input", ops.ToHost(input), io.Require(prefix + "model_input", shape, "the latents' shape"));
            }

            var output = ops.FromHost(io.Require(prefix + "model_output", shape, "the latents' shape"));
            samplerRun.Step(output, latents, guidance: null, input);
            run.Report.Add(prefix + "prev_sample", ops.ToHost(latents), io.Require(prefix + "prev_sample", shape, "the latents' shape"));
        }

        run.Report.Add("final_sample", ops.ToHost(latents), io.Require("final_sample", shape, "the latents' shape"));
    }

    /// <summary>The metadata num_inference_steps, else the length of the timesteps tensor.</summary>
    private static int ReadSteps(IoFile io, int trainSteps)
    {
        const string Key = "num_inference_steps";
        var text = io.Metadata(Key) ?? (io.Names.Contains("timesteps") ? io.Require("timesteps", "the run's timesteps").ElementCount.ToString(CultureInfo.InvariantCulture) : null)
            ?? throw new ModelFileException($"{io.Path} has no metadata entry '{Key}' and no tensor 'timesteps' (one of them gives the run's step count).", io.Path, Key);
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var steps) && steps >= 1 && steps <= trainSteps
            ? steps
            : throw new ModelFileException($"{io.Path}: metadata '{Key}' is \"{text}\"; expected a whole number from 1 to {trainSteps}.", io.Path, Key);
    }
}
