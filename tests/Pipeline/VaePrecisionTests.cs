using CudaI2V.Cli;
using CudaI2V.Kernels.Cpu;
using CudaI2V.Kernels.Planning;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Pipeline;

/// <summary>
/// The VAE's precision (<see cref="VaePrecision"/>, <c>--vae-precision</c>): which dtype each setting picks, which backend
/// the VAE then runs on, and that on the fp32 CPU backend every setting is the same run. The second, fp32 CUDA backend
/// beside an fp16 one is checked on a GPU (<c>GpuVaePrecisionTests</c>).
/// </summary>
public sealed class VaePrecisionTests
{
    private readonly string _dir = Fixtures.TempFolder("vae-precision");

    private string Cache => Path.Combine(_dir, "cache");

    [Theory]
    [InlineData(VaePrecision.Auto, true, DType.F16, DType.F32)]
    [InlineData(VaePrecision.Auto, true, DType.BF16, DType.F32)]
    [InlineData(VaePrecision.Auto, true, DType.F32, DType.F32)]
    [InlineData(VaePrecision.Auto, false, DType.F16, DType.F16)]
    [InlineData(VaePrecision.Auto, false, DType.BF16, DType.BF16)]
    [InlineData(VaePrecision.Model, true, DType.F16, DType.F16)]
    [InlineData(VaePrecision.Model, true, DType.BF16, DType.BF16)]
    [InlineData(VaePrecision.Model, false, DType.F32, DType.F32)]
    [InlineData(VaePrecision.Fp32, false, DType.F16, DType.F32)]
    [InlineData(VaePrecision.Fp32, false, DType.BF16, DType.F32)]
    [InlineData(VaePrecision.Fp32, true, DType.F32, DType.F32)]
    public void Each_setting_picks_its_dtype(VaePrecision precision, bool forceUpcast, DType backend, DType expected) =>
        Assert.Equal(expected, VideoEngineLoader.VaeDType(precision, forceUpcast, backend));

    [Theory]
    [InlineData(VaePrecision.Auto)]
    [InlineData(VaePrecision.Model)]
    [InlineData(VaePrecision.Fp32)]
    public void On_the_cpu_the_vae_shares_the_backend_under_every_setting(VaePrecision precision)
    {
        var cpu = new CpuOps();
        var log = new List<string>();

        Assert.Same(cpu, VideoEngineLoader.CreateVaeBackend(cpu, precision, ConfigWith(forceUpcast: true), log: log.Add));
        Assert.Empty(log);
    }

    [Fact]
    public void A_half_backend_without_an_fp32_twin_keeps_the_vae_with_a_note_or_refuses_an_explicit_fp32()
    {
        var planning = new PlanningOps(DType.F16);
        var log = new List<string>();

        Assert.Same(planning, VideoEngineLoader.CreateVaeBackend(planning, VaePrecision.Model, ConfigWith(forceUpcast: true), log: log.Add));
        Assert.Same(planning, VideoEngineLoader.CreateVaeBackend(planning, VaePrecision.Auto, ConfigWith(forceUpcast: false), log: log.Add));
        Assert.Empty(log);

        Assert.Same(planning, VideoEngineLoader.CreateVaeBackend(planning, VaePrecision.Auto, ConfigWith(forceUpcast: true), log: log.Add));
        Assert.Equal("note: the VAE config's force_upcast asks for an fp32 VAE, but the plan backend runs in F16 only; the VAE runs in F16.", Assert.Single(log));

        var e = Assert.Throws<NotSupportedException>(() => VideoEngineLoader.CreateVaeBackend(planning, VaePrecision.Fp32, ConfigWith(forceUpcast: false)));
        Assert.Contains("An fp32 VAE needs the CPU or CUDA backend; the plan backend runs in F16 only", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void On_the_cpu_every_setting_makes_the_same_video()
    {
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        var options = new GenerationOptions { Prompt = "a cat", Frames = 2, Steps = 1, Height = 40, Width = 56, Seed = 5 };
        float[] Video(VaePrecision precision)
        {
            using var engine = VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(Cache), VaePrecision: precision));
            return engine.Generate(image, options, cancellation: TestContext.Current.CancellationToken).Video.ToFloat32Array();
        }

        var auto = Video(VaePrecision.Auto);
        Assert.Equal(auto, Video(VaePrecision.Model));
        Assert.Equal(auto, Video(VaePrecision.Fp32));
    }

    [Fact]
    public void The_option_takes_auto_model_or_fp32_and_other_words_exit_2()
    {
        var bad = Run("generate", "--demo", "--vae-precision", "fp16", "--cache-dir", Cache);
        Assert.Equal(ExitCodes.Usage, bad.Code);
        Assert.Contains("--vae-precision must be one of auto, model, fp32, got 'fp16'", bad.Err, StringComparison.Ordinal);

        var io = Fixtures.Path("pipeline-tiny", "pipeline-io.safetensors");
        var badVerify = Run("verify", "pipeline", "--model", "no-such-folder", "--io", io, "--vae-precision", "half");
        Assert.Equal(ExitCodes.Usage, badVerify.Code);
        Assert.Contains("--vae-precision must be one of auto, model, fp32, got 'half'", badVerify.Err, StringComparison.Ordinal);

        var notPipeline = Run("verify", "vae-decode", "--model", "no-such-folder", "--io", io, "--vae-precision", "fp32");
        Assert.Equal(ExitCodes.Usage, notPipeline.Code);
        Assert.Contains("--vae-precision applies to 'verify pipeline' only, not 'vae-decode'", notPipeline.Err, StringComparison.Ordinal);

        Assert.Contains("--vae-precision <auto|model|fp32>", Run("generate", "--help").Out, StringComparison.Ordinal);
        var gif = Path.Combine(_dir, "demo.gif");
        var (code, _, error) = Run("generate", "--demo", "--vae-precision", "fp32", "--frames", "2", "--steps", "1", "--out", gif, "--cache-dir", Cache, "--device", "cpu");
        Assert.True(code == ExitCodes.Success, error);
        Assert.True(File.Exists(gif));
    }

    [Theory]
    [InlineData("auto", VaePrecision.Auto)]
    [InlineData("model", VaePrecision.Model)]
    [InlineData("fp32", VaePrecision.Fp32)]
    [InlineData(null, VaePrecision.Auto)]
    public void The_option_parses_to_its_setting(string? word, VaePrecision expected)
    {
        var spec = new CommandSpec("test", "", "", [new OptionSpec("vae-precision", "auto|model|fp32", "")], (_, _) => 0);
        var args = ParsedArgs.Parse(spec, word is null ? [] : ["--vae-precision", word]);
        Assert.Equal(expected, args.GetVaePrecision());
    }

    private VaeConfig ConfigWith(bool forceUpcast)
    {
        var path = Path.Combine(_dir, $"vae-{forceUpcast}.json");
        var json = File.ReadAllText(Fixtures.Path("vae-tiny", "model", "config.json"))
            .Replace("\"force_upcast\": true", $"\"force_upcast\": {(forceUpcast ? "true" : "false")}", StringComparison.Ordinal);
        File.WriteAllText(path, json);
        var config = VaeConfig.Load(path);
        Assert.Equal(forceUpcast, config.ForceUpcast);
        return config;
    }
}
