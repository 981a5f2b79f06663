using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using CudaI2V.Kernels;
using CudaI2V.Loader;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Pipeline.Scheduling;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Scheduling;

/// <summary>One step count of a variant's schedule.json: diffusers' timesteps, sigmas and (DPM-Solver++, UniPC) VP scalars.</summary>
public sealed record ScheduleSteps(long[] Timesteps, double[] Sigmas, double[]? AlphaT, double[]? SigmaT, double[]? LambdaT);

/// <summary>The tests/fixtures/samplers variants: diffusers 0.29.2's multistep schedulers on seven configs.</summary>
public static partial class SamplerFixtures
{
    /// <summary>The seven variant folder names.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        "dpmpp-2m-release", "dpmpp-2m-trailing-release", "dpmpp-2m-sd-epsilon", "dpmpp-2m-karras-sd-epsilon",
        "unipc-release", "unipc-sd-epsilon", "euler-sd-epsilon",
    ];

    /// <summary>The variants as theory data.</summary>
    public static TheoryData<string> Variants => new(Names);

    /// <summary>Every variant with each of its two trajectories (10 and 25 steps).</summary>
    public static TheoryData<string, int> Trajectories()
    {
        var data = new TheoryData<string, int>();
        foreach (var name in Names)
        {
            data.Add(name, 10);
            data.Add(name, 25);
        }

        return data;
    }

    /// <summary>The variant's folder (holding scheduler_config.json).</summary>
    public static string Folder(string variant) => Fixtures.Path("samplers", variant);

    /// <summary>The variant's scheduler_config.json.</summary>
    public static string ConfigPath(string variant) => Path.Combine(Folder(variant), "scheduler_config.json");

    /// <summary>The variant's trajectory file for <paramref name="steps"/> steps.</summary>
    public static string Trajectory(string variant, int steps) => Path.Combine(Folder(variant), $"trajectory-{steps}.safetensors");

    /// <summary>The sampler the variant's config names (its _class_name).</summary>
    public static MultistepSampler Create(string variant) => (MultistepSampler)Samplers.Create(null, ConfigPath(variant));

    /// <summary>schedule.json's init_noise_sigma (read before set_timesteps) and every step count's schedule.</summary>
    public static (string ClassName, double InitNoiseSigma, IReadOnlyDictionary<int, ScheduleSteps> Steps) Schedule(string variant)
    {
        // diffusers' json writes lambda = inf as the bare word Infinity, which is not JSON: quote it to read it.
        var text = NamedNumber().Replace(File.ReadAllText(Path.Combine(Folder(variant), "schedule.json")), "\"$1\"");
        using var document = JsonDocument.Parse(text);
        var root = document.RootElement;
        var steps = new Dictionary<int, ScheduleSteps>();
        foreach (var entry in root.GetProperty("steps").EnumerateObject())
        {
            var v = entry.Value;
            double[]? Optional(string name) => v.TryGetProperty(name, out var e) ? Doubles(e) : null;
            steps[int.Parse(entry.Name, CultureInfo.InvariantCulture)] = new ScheduleSteps(
                v.GetProperty("timesteps").EnumerateArray().Select(e => e.GetInt64()).ToArray(),
                Doubles(v.GetProperty("sigmas")),
                Optional("alpha_t"),
                Optional("sigma_t"),
                Optional("lambda_t"));
        }

        return (root.GetProperty("class").GetString()!, root.GetProperty("init_noise_sigma").GetDouble(), steps);
    }

    /// <summary>A sampler config written to a fresh temporary folder from JSON text; returns the file's path.</summary>
    public static string WriteConfig(string json)
    {
        var path = Path.Combine(Fixtures.TempFolder("sampler"), "scheduler_config.json");
        File.WriteAllText(path, json);
        return path;
    }

    /// <summary>
    /// Runs a trajectory file on <paramref name="ops"/> (F32 activations: CpuOps, or CudaOps in fp32) in order from its
    /// stepI.sample 0: each step's model output is recomputed on the host from our own UNet input as the fixture
    /// defines it (0.5 * model_input + 0.25 * fixture_tensor("input.step{i}.noise"), the raw uniform values at scale 1),
    /// so the loop is closed. Returns, per step, our model input and new latents beside the recorded ones.
    /// </summary>
    public static List<(string Name, Tensor Actual, Tensor Expected)> Run(Sampler sampler, IOps ops, string path)
    {
        using var io = SafetensorsFile.Open(path);
        var steps = int.Parse(io.Metadata["num_inference_steps"], CultureInfo.InvariantCulture);
        sampler.SetTimesteps(steps);
        var first = Read(io, "step0.sample");
        var shape = first.Shape;
        var latents = ops.FromHost(first, DType.F32);
        var input = ops.Empty(ops.ActivationDType, shape);
        var run = sampler.Start(ops, shape);
        run.WriteInput(latents, input);
        var results = new List<(string, Tensor, Tensor)>();
        for (var i = 0; i < steps; i++)
        {
            var inputs = ops.ToHost(input).ToFloat32Array();
            results.Add(($"step{i}.model_input", Tensor.FromSpan<float>(inputs, shape), Read(io, $"step{i}.model_input")));
            var noise = FixtureWeights.Input($"step{i}.noise", shape, 1f).ToFloat32Array();
            var output = Tensor.FromSpan<float>(inputs.Select((x, k) => (0.5f * x) + (0.25f * noise[k])).ToArray(), shape);
            run.Step(ops.FromHost(output), latents, guidance: null, input);
            results.Add(($"step{i}.prev_sample", ops.ToHost(latents), Read(io, $"step{i}.prev_sample")));
        }

        results.Add(("final_sample", ops.ToHost(latents), Read(io, "final_sample")));
        return results;
    }

    /// <summary>A tensor of the file read into memory of its own (the file's tensors live only while it is open).</summary>
    public static Tensor Read(SafetensorsFile io, string name) => Tensor.FromSpan<float>(io.ReadFloat32(name), io.GetTensor(name).Shape);


    /// <summary>max |a - e| / max |e| over the tensor.</summary>
    public static double MaxRel(Tensor actual, Tensor expected)
    {
        var a = actual.ToFloat32Array();
        var e = expected.ToFloat32Array();
        Assert.Equal(e.Length, a.Length);
        if (a.Any(v => !float.IsFinite(v)))
        {
            return double.PositiveInfinity;
        }

        var maxAbs = a.Select((v, i) => Math.Abs((double)v - e[i])).Max();
        return maxAbs / e.Max(v => Math.Abs((double)v));
    }

    private static double[] Doubles(JsonElement array) =>
        array.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? double.Parse(e.GetString()!, CultureInfo.InvariantCulture) : e.GetDouble()).ToArray();

    [GeneratedRegex(@"(?<![""\w])(-?Infinity|NaN)")]
    private static partial Regex NamedNumber();
}
