using CudaI2V.Cli;
using CudaI2V.Kernels.Cpu;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Pipeline.Scheduling;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Pipeline;

/// <summary>Every sampler end to end in the engine on the tiny pipeline, the folder's class selecting it, and the refusals.</summary>
public sealed class SamplerGenerateTests
{
    private readonly string _dir = Fixtures.TempFolder("sampler-generate");

    /// <summary>
    /// Each sampler runs a whole request; from the UNet outputs the engine saw, the sampler run on the CPU's ops in
    /// diffusers' layout reproduces every UNet input the engine gave (initial noise scale, Euler's input scale, the
    /// multistep history, UniPC's corrector) bit for bit. For DDIM these are the same op calls the engine always made.
    /// </summary>
    [Fact]
    public void Every_sampler_runs_in_the_engine_as_its_own_steps()
    {
        using var engine = VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(Path.Combine(_dir, "cache"))));
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        foreach (var name in Samplers.Names)
        {
            var options = new GenerationOptions { Prompt = "a cat", Frames = 2, Steps = 3, Height = 24, Width = 32, Seed = 11, Sampler = name };
            var observer = new Recorder();
            var result = engine.Generate(image, options, observer: observer, cancellation: TestContext.Current.CancellationToken);
            Assert.Equal(2, result.Frames.Count);
            Assert.All(result.Video.ToFloat32Array(), v => Assert.True(float.IsFinite(v)));

            var sampler = engine.CreateSampler(name, options.Steps);
            Assert.Equal(sampler.Timesteps, observer.Steps.Select(s => s.Timestep));
            var latents = observer.Initial!;                                                              // (1, L, F, h, w)
            var next = Tensor.Zeros(DType.F32, observer.Steps[0].Input.Shape);
            var run = sampler.Start(new CpuOps(), latents.Shape);
            run.WriteInput(latents, next);
            for (var i = 0; i < options.Steps; i++)
            {
                Assert.True(next.ToFloat32Array().AsSpan().SequenceEqual(observer.Steps[i].Input.ToFloat32Array()), $"{name}: the UNet input of step {i}");
                run.Step(observer.Steps[i].Output, latents, (float)options.Guidance, next);
            }
        }
    }

    [Fact]
    public void The_folder_class_selects_the_sampler_and_the_option_overrides_it()
    {
        var config = WriteScheduler("""
            {"_class_name": "DPMSolverMultistepScheduler", "beta_schedule": "squaredcos_cap_v2", "prediction_type": "v_prediction",
             "timestep_spacing": "trailing", "lambda_min_clipped": -Infinity, "variance_type": null, "note": "Infinity and NaN stay words here"}
            """);
        var model = ModelDirectory.Open(config);
        Assert.Equal(SamplerKind.DpmSolverMultistep, Assert.IsType<SamplerConfig>(model.Get(ComponentKind.Scheduler).Config).Kind);
        Assert.Equal(double.NegativeInfinity, ((SamplerConfig)model.Get(ComponentKind.Scheduler).Config).LambdaMinClipped);
        Assert.Equal(SamplerKind.DpmSolverMultistep, Samplers.Create(null, model.SchedulerConfigPath).Kind);
        var euler = Samplers.Create("euler", model.SchedulerConfigPath);
        euler.SetTimesteps(4);
        Assert.Equal(SamplerKind.EulerDiscrete, euler.Kind);
        Assert.Throws<ModelFileException>(() => model.Scheduler);                                        // not a DDIM config
    }

    [Fact]
    public void Generate_refuses_unknown_samplers_and_unsupported_settings_by_name()
    {
        var image = Fixtures.Path("pipeline-tiny", "input.png");
        string[] Args(string model, params string[] more) => ["generate", "--model", model, "--image", image, "--prompt", "a cat", "--out", Path.Combine(_dir, "x.gif"), .. more];

        var (code, _, error) = Run(Args(Fixtures.PipelineTiny, "--sampler", "heun"));
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("dpmpp-2m", error, StringComparison.Ordinal);

        var pndm = WriteScheduler("""{"_class_name": "PNDMScheduler"}""");
        (code, _, error) = Run(Args(pndm));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("--sampler", error, StringComparison.Ordinal);

        var sde = WriteScheduler("""{"_class_name": "DPMSolverMultistepScheduler", "algorithm_type": "sde-dpmsolver++"}""");
        (code, _, error) = Run(Args(sde));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("algorithm_type", error, StringComparison.Ordinal);

        var offset = WriteScheduler("""{"steps_offset": 500, "timestep_spacing": "leading"}""");
        (code, _, error) = Run(Args(offset, "--sampler", "dpmpp-2m", "--steps", "50"));
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--steps 50", error, StringComparison.Ordinal);
    }

    /// <summary>A copy of the tiny pipeline's folder (configs only: nothing here loads weights) with this scheduler config.</summary>
    private string WriteScheduler(string json)
    {
        var folder = Path.Combine(_dir, Guid.NewGuid().ToString("N"));
        Fixtures.CopyTree(Fixtures.Path("pipeline-tiny", "model"), folder);
        File.WriteAllText(Path.Combine(folder, "scheduler", "scheduler_config.json"), json);
        return folder;
    }

    private sealed class Recorder : IGenerationObserver
    {
        public Tensor? Initial { get; private set; }

        public List<(float Timestep, Tensor Input, Tensor Output)> Steps { get; } = [];

        public void Tensor(string name, Tensor value)
        {
            if (name == "latents.initial")
            {
                Initial = value.To(DType.F32);
            }
        }

        public void UNetStep(int stepIndex, float timestep, Tensor input, Tensor output) => Steps.Add((timestep, input, output));
    }
}
