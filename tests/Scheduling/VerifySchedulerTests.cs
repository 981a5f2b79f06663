using System.Globalization;
using CudaI2V.Cli;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Scheduling;

/// <summary><c>cudai2v verify scheduler</c> on diffusers' recorded steps, and its exit codes for bad input.</summary>
public sealed class VerifySchedulerTests
{
    public static TheoryData<string> Variants => SchedulerFixtures.Variants;


    private static (int Code, string Out, string Err) Verify(string model, string io) => Run("verify", "scheduler", "--model", model, "--io", io);

    /// <summary>The release steps file rewritten with some tensors changed or dropped and the given metadata.</summary>
    private static string Rewritten(string name, Func<string, Tensor, Tensor?> change, Dictionary<string, string>? metadata)
    {
        var path = Path.Combine(Fixtures.TempFolder("verify-scheduler"), name + ".safetensors");
        using var io = SafetensorsFile.Open(SchedulerFixtures.Steps("release"));
        var tensors = io.Names.Select(n => (n, change(n, io.GetTensor(n).To(io.GetTensor(n).DType))))
            .Where(p => p.Item2 is not null)
            .Select(p => new KeyValuePair<string, Tensor>(p.n, p.Item2!));
        SafetensorsWriter.Write(path, tensors, metadata);
        return path;
    }

    private static Dictionary<string, string> Metadata(string steps = "30", string eta = "0") => new() { ["num_inference_steps"] = steps, ["eta"] = eta };

    [Theory]
    [MemberData(nameof(Variants))]
    public void Verify_scheduler_passes_on_the_recorded_steps(string variant)
    {
        var (code, output, error) = Verify(SchedulerFixtures.Folder(variant), SchedulerFixtures.Steps(variant));
        var lines = output.TrimEnd().Split('\n');
        Assert.True(code == ExitCodes.Success, output + error);
        Assert.Equal(["step0", "step1", "step15", "step29"], lines[..^1].Select(l => l.Split('.')[0]));
        Assert.All(lines[..^1], l => Assert.Contains(".prev_sample [2, 4, 3, 5]: max_abs=", l, StringComparison.Ordinal));
        Assert.Matches(@"^max_abs=\d\.\d{3}e[-+]\d\d max_rel=\d\.\d{3}e[-+]\d\d nmse=\d\.\d{3}e[-+]\d\d PASS$", lines[^1]);
        Assert.Contains("30 steps", error, StringComparison.Ordinal);

        // Measured: 0 for every variant (diffusers' float32 operations in diffusers' order). Allow a few float32
        // ulps of these unit-scale values before calling it a regression.
        var maxAbs = double.Parse(lines[^1].Split(' ')[0]["max_abs=".Length..], CultureInfo.InvariantCulture);
        Assert.True(maxAbs <= 1e-6, lines[^1]);
    }

    [Fact]
    public void Verify_accepts_a_whole_pipeline_folder()
    {
        // The tiny pipeline's scheduler is the release's DDIM config; nothing of its weights is needed.
        var (code, output, _) = Verify(Fixtures.Path("pipeline-tiny", "model"), SchedulerFixtures.Steps("release"));
        Assert.Equal(ExitCodes.Success, code);
        Assert.EndsWith("PASS", output.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_wrong_expected_value_fails_with_exit_code_1()
    {
        var io = Rewritten("off", (name, t) =>
        {
            if (name == "step15.prev_sample")
            {
                t.AsSpan<float>()[7] += 1e-3f;
            }

            return t;
        }, Metadata());
        var (code, output, _) = Verify(SchedulerFixtures.Folder("release"), io);
        Assert.Equal(ExitCodes.Failed, code);
        Assert.Contains("step15.prev_sample [2, 4, 3, 5]: max_abs=1.000e-03", output, StringComparison.Ordinal);
        Assert.EndsWith("FAIL", output.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_or_bad_step_count_exits_3_naming_the_metadata_key()
    {
        var (code, _, error) = Verify(SchedulerFixtures.Folder("release"), Rewritten("no-metadata", (_, t) => t, null));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("no metadata entry 'num_inference_steps'", error, StringComparison.Ordinal);

        (code, _, error) = Verify(SchedulerFixtures.Folder("release"), Rewritten("too-many", (_, t) => t, Metadata(steps: "1001")));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("'num_inference_steps' is \"1001\"; expected a whole number from 1 to 1000", error, StringComparison.Ordinal);

        (code, _, error) = Verify(SchedulerFixtures.Folder("release"), Rewritten("bad-eta", (_, t) => t, Metadata(eta: "-1")));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("'eta' is \"-1\"", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_or_misshapen_tensor_exits_3_naming_it_and_the_expected_shape()
    {
        var (code, _, error) = Verify(SchedulerFixtures.Folder("release"), Rewritten("missing", (name, t) => name == "step15.sample" ? null : t, Metadata()));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("no tensor 'step15.sample' (expected the model output's shape [2, 4, 3, 5])", error, StringComparison.Ordinal);

        (code, _, error) = Verify(SchedulerFixtures.Folder("release"), Rewritten("wrong", (name, t) => name == "step1.prev_sample" ? Tensor.Zeros(DType.F32, new TensorShape(2, 4, 15)) : t, Metadata()));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("'step1.prev_sample' has shape [2, 4, 15]; expected the model output's shape [2, 4, 3, 5]", error, StringComparison.Ordinal);

        (code, _, error) = Verify(SchedulerFixtures.Folder("release"), Rewritten("late", (name, t) => name == "step0.t" ? Tensor.FromArray(new long[] { 1000 }, 1) : t, Metadata()));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("'step0.t' is 1000; expected a timestep in [0, 999]", error, StringComparison.Ordinal);

        (code, _, error) = Verify(SchedulerFixtures.Folder("release"), Rewritten("no-steps", (name, t) => name.EndsWith(".t", StringComparison.Ordinal) ? null : t, Metadata()));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("no tensor 'stepN.t'", error, StringComparison.Ordinal);

        (code, _, error) = Verify(SchedulerFixtures.Folder("release"), Rewritten("eta", (_, t) => t, Metadata(eta: "0.5")));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("no tensor 'step0.variance_noise' (expected standard-normal noise for eta > 0", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_folder_without_a_usable_scheduler_exits_3()
    {
        var (code, _, error) = Verify(Fixtures.Path("unet-tiny", "model"), SchedulerFixtures.Steps("release"));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("no scheduler", error, StringComparison.Ordinal);

        var (_, folder) = SchedulerFixtures.FromJson("""{"thresholding": true}""");
        (code, _, error) = Verify(folder, SchedulerFixtures.Steps("release"));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("'thresholding' is true", error, StringComparison.Ordinal);
    }
}
