using CudaI2V.Kernels;
using CudaI2V.Kernels.Cuda;
using CudaI2V.Pipeline.Scheduling;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Scheduling;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Kernels.Cuda.Cases.KernelCases;

namespace CudaI2V.Tests.Kernels.Cuda.Cases;

/// <summary>
/// The fused guidance + DDIM step (DdimStep.cu) against diffusers' guidance and the host DDIMScheduler.Step on the same
/// values: the fp32 latents equal bit for bit and the copy for the next UNet input their rounding, for every prediction
/// type, storage dtype, guided or not, clip_sample, and eta &gt; 0; and the non-finite count (NonFinite.cu) of every
/// NaN and infinity, zeroed or accumulating, with a capped grid.
/// </summary>
internal static class SchedulingCases
{
    public static IReadOnlyDictionary<string, KernelCase> DdimStep { get; } = BuildDdimStep();

    public static IReadOnlyDictionary<string, KernelCase> NonFinite { get; } = BuildNonFinite();

    private static Dictionary<string, KernelCase> BuildDdimStep()
    {
        var cases = new Dictionary<string, KernelCase>();
        foreach (var prediction in new[] { "v_prediction", "epsilon", "sample" })
        {
            foreach (var dtype in StorageTypes)
            {
                var d = Short(dtype);
                cases[$"DdimStep {prediction} {d} guided, as the release pipeline runs"] = new DdimStepCase(prediction, dtype, Guided: true, Clip: false, Eta: 0f);
                cases[$"DdimStep {prediction} {d} a batch of one, clip_sample on"] = new DdimStepCase(prediction, dtype, Guided: false, Clip: true, Eta: 0f);
                cases[$"DdimStep {prediction} {d} guided, eta 0.7 adds noise"] = new DdimStepCase(prediction, dtype, Guided: true, Clip: true, Eta: 0.7f);
            }
        }

        cases["DdimStep f16 a non-finite model output reaches the latents and the count sees it"] = new DdimNonFiniteCase();
        return cases;
    }

    private static Dictionary<string, KernelCase> BuildNonFinite()
    {
        var cases = new Dictionary<string, KernelCase>();
        foreach (var dtype in StorageTypes)
        {
            cases[$"NonFinite {Short(dtype)} every NaN and infinity of 300,001 values"] = new NonFiniteCase(dtype);
        }

        cases["NonFinite f16 a clean tensor counts zero after a dirty one"] = new CleanAfterDirtyCase();
        return cases;
    }
}

/// <summary>Three DDIM steps (first, middle, last timestep) of a scheduler with <paramref name="Prediction"/> on the same device latents.</summary>
internal sealed record DdimStepCase(string Prediction, DType DType, bool Guided, bool Clip, float Eta) : KernelCase
{
    public override void Run(IOpTestDevice device)
    {
        var clipText = Clip ? "true" : "false";
        var config = SchedulerFixtures.FromJson($$"""{"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "prediction_type": "{{Prediction}}", "clip_sample": {{clipText}}, "clip_sample_range": 1.0, "timestep_spacing": "leading", "steps_offset": 1, "rescale_betas_zero_snr": true}""").Config;
        var scheduler = new DDIMScheduler(config);
        scheduler.SetTimesteps(50);
        const int Frames = 3;
        const float Guidance = 9f;
        int[] dims = [Frames, 5, 7, 4];
        int[] outputDims = [Guided ? 2 * Frames : Frames, 5, 7, 4];
        var latents = Uniform(90, 2f, 0f, dims);
        var output = Input(DType, 91, 1.5f, 0.1f, outputDims);
        var noise = Eta > 0 ? Uniform(92, 1.7f, 0f, dims) : null;
        var deviceLatents = device.Upload(latents);
        var deviceOutput = device.Upload(output, DType);
        var deviceNoise = noise is null ? null : device.Upload(noise);
        var copy = device.Poisoned(DType, outputDims);

        foreach (var t in new[] { scheduler.Timesteps[0], scheduler.Timesteps[25], scheduler.Timesteps[^1] })
        {
            var step = scheduler.StepSettings(t, Eta, Guided ? Guidance : null);
            device.Launch(DdimStepKernel.Plan(deviceOutput, deviceLatents, step.Coefficients, step.Prediction, step.Guidance, step.ClipRange, deviceNoise, copy));

            var prediction = Guided ? GuidanceReference.Guide(output, Guidance) : output;
            latents = scheduler.Step(prediction, t, latents, Eta, varianceNoise: noise);
            var actual = device.Download(deviceLatents).ToFloat32Array();
            var expected = latents.ToFloat32Array();
            for (var i = 0; i < expected.Length; i++)
            {
                if (BitConverter.SingleToUInt32Bits(expected[i]) != BitConverter.SingleToUInt32Bits(actual[i]))
                {
                    Assert.Fail($"t={t} element {i}: device {actual[i]:R}, host {expected[i]:R}");
                }
            }

            var rounded = latents.To(DType).AsBytes().ToArray();
            var copies = device.Download(copy).AsBytes().ToArray();
            Assert.Equal(rounded, copies[..rounded.Length]);
            Assert.Equal(Guided ? rounded : Array.Empty<byte>(), copies[rounded.Length..]); // the second half of a guided input too
        }
    }
}

/// <summary>An infinity in the conditional half of a guided fp16 output: the latent it guides becomes non-finite, and the count finds exactly it.</summary>
internal sealed record DdimNonFiniteCase : KernelCase
{
    public override void Run(IOpTestDevice device)
    {
        var values = Uniform(93, 1f, 0f, 2, 2, 3, 4).ToFloat32Array();
        values[30] = float.PositiveInfinity; // the conditional half of element 6
        var output = device.Upload(Tensor.FromSpan<float>(values, new TensorShape(2, 2, 3, 4)), DType.F16);
        var latents = device.Upload(Uniform(94, 1f, 0f, 1, 2, 3, 4));
        var counter = device.Empty(DType.I64, 1);

        device.Launch(DdimStepKernel.Plan(output, latents, new DdimCoefficients(0.5f, 0.8660254f, 0.6f, 0.8f, 0f), DdimPrediction.VPrediction, 9f));
        device.Launch(NonFiniteKernel.Plan(latents, counter));

        Assert.Equal(1L, device.Download(counter).AsSpan<long>()[0]);
        Assert.False(float.IsFinite(device.Download(latents).ToFloat32Array()[6]));
    }
}

/// <summary>
/// 300,001 values of one dtype with NaNs and infinities at the ends, in the middle and at block edges, counted three
/// ways into two counters: zeroed then counted; zeroed by hand, then a bare count on a grid of 3 blocks and an
/// accumulating count (twice the count).
/// </summary>
internal sealed record NonFiniteCase(DType DType) : KernelCase
{
    public override void Run(IOpTestDevice device)
    {
        var values = Uniform(72, 60000f, 0f, 300_001).ToFloat32Array();
        int[] positions = [0, 1, 77, 4096, 150_000, 299_999, 300_000];
        float[] bad = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -float.NaN, float.NaN, float.PositiveInfinity, float.NaN];
        for (var i = 0; i < positions.Length; i++)
        {
            values[positions[i]] = bad[i];
        }

        values[5] = 65504f; // the largest finite fp16: finite in every dtype
        values[6] = -3.3e38f; // finite in fp32 and bf16, infinite once rounded to fp16
        var x = device.Upload(Tensor.FromSpan<float>(values, new TensorShape(values.Length)), DType);
        var counters = device.Poisoned(DType.I64, 2);
        var expected = positions.Length + (DType == DType.F16 ? 1 : 0);

        device.Launch(NonFiniteKernel.Plan(x, counters.Slice(0, 0, 1)));
        device.Launch(new DeviceMemset(counters.Slice(0, 1, 1).DeviceAddress(), 0, sizeof(long))); // a bare launch does not zero
        device.Launch(NonFiniteKernel.Plan(x, counters.Slice(0, 1, 1), accumulate: true, maxBlocks: 3));
        device.Launch(NonFiniteKernel.Plan(x, counters.Slice(0, 1, 1), accumulate: true));

        var counts = device.Download(counters).AsSpan<long>().ToArray();
        Assert.Equal(expected, counts[0]);
        Assert.Equal(2 * expected, counts[1]);
    }
}

/// <summary>The counter is zeroed before each count: a clean tensor after a dirty one counts 0.</summary>
internal sealed record CleanAfterDirtyCase : KernelCase
{
    public override void Run(IOpTestDevice device)
    {
        var dirty = device.Upload(Tensor.FromSpan<float>([1f, float.NaN, 2f], new TensorShape(3)).To(DType.F16));
        var clean = device.Upload(Uniform(73, 100f, 0f, 5000), DType.F16);
        var counter = device.Empty(DType.I64, 1);

        device.Launch(NonFiniteKernel.Plan(dirty, counter));
        Assert.Equal(1L, device.Download(counter).AsSpan<long>()[0]);
        device.Launch(NonFiniteKernel.Plan(clean, counter));
        Assert.Equal(0L, device.Download(counter).AsSpan<long>()[0]);
    }
}
