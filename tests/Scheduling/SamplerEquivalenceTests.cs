using CudaI2V.Kernels.Cpu;
using CudaI2V.Pipeline.Scheduling;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Scheduling;

/// <summary>
/// Identities between the samplers that hold in exact arithmetic, checked on spacings and prediction types no fixture
/// covers, against DDIM (itself bit for bit diffusers'): first-order DPM-Solver++ and UniPC's predictor without its
/// corrector are DDIM; Euler is DDIM in the scaled variable x / sqrt(sigma^2 + 1); UniPC's order-2 predictor without
/// its corrector is DPM-Solver++ 2M. Each run is closed: the model output is computed from that sampler's own input.
/// </summary>
public sealed class SamplerEquivalenceTests
{
    private const double MaxRel = 1e-5;
    private const string Sd = "\"beta_start\": 0.00085, \"beta_end\": 0.012, \"beta_schedule\": \"scaled_linear\"";
    private const string Release = "\"beta_schedule\": \"squaredcos_cap_v2\", \"rescale_betas_zero_snr\": true";
    private const string Ddim = "\"set_alpha_to_one\": true, \"clip_sample\": false, \"steps_offset\": 1";
    private static readonly string NoCorrector = $"\"disable_corrector\": [{string.Join(", ", Enumerable.Range(0, 20))}]";

    public static TheoryData<string, string, string, string> DdimIdentities() => new()
    {
        { "dpmpp-2m", "epsilon", "trailing", "\"solver_order\": 1" },
        { "dpmpp-2m", "v_prediction", "trailing", "\"solver_order\": 1" },
        { "dpmpp-2m", "sample", "trailing", "\"solver_order\": 1" },
        { "unipc", "epsilon", "trailing", "\"solver_order\": 1, " + NoCorrector },
        { "unipc", "v_prediction", "trailing", "\"solver_order\": 1, " + NoCorrector },
    };

    [Theory]
    [MemberData(nameof(DdimIdentities))]
    public void First_order_multistep_updates_are_ddim(string name, string prediction, string spacing, string options)
    {
        var common = $"{Sd}, \"prediction_type\": \"{prediction}\", \"timestep_spacing\": \"{spacing}\"";
        var ddim = Run(Samplers.Create("ddim", SamplerFixtures.WriteConfig($"{{{common}, {Ddim}}}")), 20);
        var multistep = Run(Samplers.Create(name, SamplerFixtures.WriteConfig($"{{{common}, {options}}}")), 20);

        AssertSame(ddim.Latents, multistep.Latents, $"{name} {prediction} {spacing}");
    }

    [Theory]
    [InlineData("epsilon", Sd)]
    [InlineData("v_prediction", Sd)]
    [InlineData("v_prediction", Release)]
    public void Euler_is_ddim_in_the_scaled_latents(string prediction, string table)
    {
        var common = $"{table}, \"prediction_type\": \"{prediction}\", \"timestep_spacing\": \"leading\"";
        var ddim = Run(Samplers.Create("ddim", SamplerFixtures.WriteConfig($"{{{common}, {Ddim}}}")), 20);
        var euler = Run(Samplers.Create("euler", SamplerFixtures.WriteConfig($"{{{common}, \"steps_offset\": 1}}")), 20);

        // Euler's UNet input x / sqrt(sigma^2 + 1) is DDIM's latents; after the last step (sigma 0) the latents agree.
        AssertSame(ddim.Inputs, euler.Inputs, $"euler {prediction}");
        AssertSame([ddim.Latents[^1]], [euler.Latents[^1]], $"euler {prediction} final sample");
    }

    [Theory]
    [InlineData("leading")]
    [InlineData("trailing")]
    [InlineData("linspace")]
    public void Unipcs_predictor_without_its_corrector_is_dpm_solver_2m(string spacing)
    {
        var common = $"{Release}, \"prediction_type\": \"v_prediction\", \"steps_offset\": 1, \"timestep_spacing\": \"{spacing}\"";
        var dpm = Run(Samplers.Create("dpmpp-2m", SamplerFixtures.WriteConfig($"{{{common}}}")), 20);
        var unipc = Run(Samplers.Create("unipc", SamplerFixtures.WriteConfig($"{{{common}, {NoCorrector}}}")), 20);

        AssertSame(dpm.Latents, unipc.Latents, $"unipc without corrector, {spacing}");
    }

    [Theory]
    [InlineData(true, 0f)]
    [InlineData(false, 0.7f)]
    public void The_ddim_sampler_is_the_host_scheduler_bit_for_bit(bool guided, float eta)
    {
        var sampler = (DdimSampler)Samplers.Create(null, SchedulerFixtures.Folder("release") + "/scheduler_config.json");
        sampler.SetTimesteps(12);
        var shape = new TensorShape(3, 5, 4);
        var ops = new CpuOps();
        var latents = Values(31, shape, 1f);
        var expected = latents.To(DType.F32);
        var outputShape = new TensorShape(guided ? 6 : 3, 5, 4);
        var next = Tensor.Zeros(DType.F32, outputShape);
        var run = sampler.Start(ops, shape, eta);
        Assert.Equal(eta > 0, run.NeedsNoise);

        run.WriteInput(latents, next);
        Assert.Equal(latents.ToFloat32Array(), next.ToFloat32Array()[..(int)shape.ElementCount]);
        for (var i = 0; i < 12; i++)
        {
            var output = Values(40 + (ulong)i, outputShape, 1f);
            var noise = eta > 0 ? Values(60 + (ulong)i, shape, 1f) : null;
            run.Step(output, latents, guided ? 7.5f : null, next, noise);
            expected = sampler.Scheduler.Step(guided ? GuidanceReference.Guide(output, 7.5f) : output, (int)sampler.Timesteps[i], expected, eta, varianceNoise: noise);
            Assert.Equal(expected.ToFloat32Array(), latents.ToFloat32Array());
        }
    }

    /// <summary>A closed run of <paramref name="steps"/> steps on a small sample: each step's UNet input and new latents.</summary>
    private static (List<float[]> Inputs, List<float[]> Latents) Run(Sampler sampler, int steps)
    {
        sampler.SetTimesteps(steps);
        var shape = new TensorShape(2, 4, 3, 5);
        var ops = new CpuOps();
        var start = new TestData(7).Floats((int)shape.ElementCount);
        var latents = Tensor.FromSpan<float>(start.Select(v => v * sampler.InitNoiseSigma).ToArray(), shape);
        var input = Tensor.Zeros(DType.F32, shape);
        var run = sampler.Start(ops, shape);
        run.WriteInput(latents, input);
        var (inputs, states) = (new List<float[]>(), new List<float[]>());
        for (var i = 0; i < steps; i++)
        {
            var x = input.ToFloat32Array();
            inputs.Add(x);
            var noise = new TestData(100 + (ulong)i).Floats(x.Length);
            run.Step(Tensor.FromSpan<float>(x.Select((v, k) => (0.5f * v) + (0.25f * noise[k])).ToArray(), shape), latents, null, input);
            states.Add(latents.ToFloat32Array());
        }

        return (inputs, states);
    }

    private static void AssertSame(List<float[]> expected, List<float[]> actual, string what)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            var e = Tensor.FromSpan<float>(expected[i], new TensorShape(expected[i].Length));
            var rel = SamplerFixtures.MaxRel(Tensor.FromSpan<float>(actual[i], e.Shape), e);
            Assert.True(rel <= MaxRel, $"{what}: step {i} differs by max_rel {rel:E3}");
        }
    }

    private static Tensor Values(ulong seed, TensorShape shape, float scale) =>
        Tensor.FromSpan<float>(new TestData(seed).Floats((int)shape.ElementCount, scale), shape);
}
