using System.Globalization;
using CudaI2V.Cli;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Scheduling;

/// <summary><c>cudai2v verify scheduler</c> on the sampler fixtures' whole trajectories, and its exit codes for bad input.</summary>
public sealed class VerifySamplerTrajectoryTests
{
    public static TheoryData<string, int> Trajectories => SamplerFixtures.Trajectories();

    private static (int Code, string Out, string Err) Verify(string model, string io) =>
        Run("verify", "scheduler", "--model", model, "--io", io, "--device", "cpu");

    /// <summary>A trajectory file rewritten with some tensors changed or dropped (metadata kept unless given).</summary>
    private static string Rewritten(string variant, Func<string, Tensor, Tensor?> change, Dictionary<string, string>? metadata = null)
    {
        var path = Path.Combine(Fixtures.TempFolder("verify-trajectory"), variant + ".safetensors");
        using var io = SafetensorsFile.Open(SamplerFixtures.Trajectory(variant, 10));
        var tensors = io.Names.Select(n => (n, change(n, io.GetTensor(n).To(io.GetTensor(n).DType))))
            .Where(p => p.Item2 is not null)
            .Select(p => new KeyValuePair<string, Tensor>(p.n, p.Item2!));
        SafetensorsWriter.Write(path, tensors, metadata ?? io.Metadata.ToDictionary());
        return path;
    }

    [Theory]
    [MemberData(nameof(Trajectories))]
    public void Verify_scheduler_passes_on_every_trajectory(string variant, int steps)
    {
        var (code, output, error) = Verify(SamplerFixtures.Folder(variant), SamplerFixtures.Trajectory(variant, steps));

        var lines = output.TrimEnd().Split('\n');
        Assert.True(code == ExitCodes.Success, output + error);
        Assert.Equal((2 * steps) + 3, lines.Length); // timesteps, model_input and prev_sample per step, final_sample, the last line
        Assert.StartsWith("timesteps [", lines[0], StringComparison.Ordinal);
        Assert.StartsWith($"step{steps - 1}.prev_sample [2, 4, 3, 5, 6]: max_abs=", lines[^3], StringComparison.Ordinal);
        Assert.StartsWith("final_sample [2, 4, 3, 5, 6]", lines[^2], StringComparison.Ordinal);
        Assert.Matches(@"^max_abs=\d\.\d{3}e[-+]\d\d max_rel=\d\.\d{3}e[-+]\d\d nmse=\d\.\d{3}e[-+]\d\d PASS$", lines[^1]);
        Assert.Contains($"{steps} steps on cpu", error, StringComparison.Ordinal);

        // Measured: at most 2.3e-6 over the seven variants with the recorded model outputs fed in (made from
        // diffusers' inputs, not ours); the bar is 1e-5.
        var maxRel = double.Parse(lines[^1].Split(' ')[1]["max_rel=".Length..], CultureInfo.InvariantCulture);
        Assert.True(maxRel <= 5e-6, lines[^1]);
    }

    [Fact]
    public void A_wrong_expected_value_fails_with_exit_code_1_naming_the_tensor()
    {
        var io = Rewritten("unipc-release", (name, t) =>
        {
            if (name == "step6.prev_sample")
            {
                t.AsSpan<float>()[11] += 1e-3f;
            }

            return t;
        });

        var (code, output, _) = Verify(SamplerFixtures.Folder("unipc-release"), io);

        Assert.Equal(ExitCodes.Failed, code);
        Assert.Contains("over its bar: step6.prev_sample max_rel=", output, StringComparison.Ordinal);
        Assert.EndsWith("FAIL", output.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_folder_class_drives_the_run_so_another_samplers_trajectory_fails()
    {
        // DPM-Solver++ run on UniPC's recorded outputs: the same timesteps, different updates.
        var (code, output, _) = Verify(SamplerFixtures.Folder("dpmpp-2m-release"), SamplerFixtures.Trajectory("unipc-release", 10));

        Assert.Equal(ExitCodes.Failed, code);
        Assert.StartsWith("timesteps [10]: max_abs=0.000e+00", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_tensors_and_metadata_exit_3_naming_them()
    {
        var (code, _, error) = Verify(SamplerFixtures.Folder("euler-sd-epsilon"), Rewritten("euler-sd-epsilon", (name, t) => name == "step4.model_output" ? null : t));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("no tensor 'step4.model_output' (expected the latents' shape [2, 4, 3, 5, 6])", error, StringComparison.Ordinal);

        (code, _, error) = Verify(SamplerFixtures.Folder("euler-sd-epsilon"), Rewritten("euler-sd-epsilon", (name, t) => name == "timesteps" ? null : t, []));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("no metadata entry 'num_inference_steps' and no tensor 'timesteps'", error, StringComparison.Ordinal);

        (code, _, error) = Verify(SamplerFixtures.Folder("euler-sd-epsilon"), Rewritten("euler-sd-epsilon", (_, t) => t, new() { ["num_inference_steps"] = "0" }));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("'num_inference_steps' is \"0\"", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Separate_ddim_steps_against_a_multistep_folder_exit_3()
    {
        var (code, _, error) = Verify(SamplerFixtures.Folder("dpmpp-2m-sd-epsilon"), SchedulerFixtures.Steps("sd-epsilon"));

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("holds separate DDIM steps (stepN.t) but", error, StringComparison.Ordinal);
        Assert.Contains("names a DPMSolverMultistepScheduler", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_class_without_a_sampler_or_an_unsupported_setting_exits_3_naming_it()
    {
        var folder = Path.GetDirectoryName(SamplerFixtures.WriteConfig("""{"_class_name": "PNDMScheduler"}"""))!;
        var (code, _, error) = Verify(folder, SamplerFixtures.Trajectory("unipc-release", 10));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("'_class_name' is \"PNDMScheduler\"; CudaI2V runs DDIMScheduler, DPMSolverMultistepScheduler", error, StringComparison.Ordinal);

        folder = Path.GetDirectoryName(SamplerFixtures.WriteConfig("""{"_class_name": "DPMSolverMultistepScheduler", "algorithm_type": "sde-dpmsolver++"}"""))!;
        (code, _, error) = Verify(folder, SamplerFixtures.Trajectory("dpmpp-2m-release", 10));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("'algorithm_type' is \"sde-dpmsolver++\"", error, StringComparison.Ordinal);
    }
}
