using CudaI2V.Cli;
using CudaI2V.Loader;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Runtime.Caching;
using CudaI2V.Tests.Support;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Pipeline;

/// <summary><c>cudai2v generate</c>, <c>verify pipeline</c> and the engine API, end to end on the tiny pipeline.</summary>
public sealed class GenerateTests
{
    private readonly string _dir = Fixtures.TempFolder("generate");

    private string Cache => Path.Combine(_dir, "cache");

    [Fact]
    public void Verify_pipeline_matches_diffusers_at_every_stage()
    {
        var (code, output, error) = Run(["verify", "pipeline", "--model", Fixtures.PipelineTiny, "--io", Fixtures.Path("pipeline-tiny", "pipeline-io.safetensors"), "--cache-dir", Cache]);
        Assert.True(code == ExitCodes.Success, output + error);
        var lines = output.TrimEnd().Split('\n');
        foreach (var stage in new[] { "image_encoder/root::in.0", "image_encoder/root::out.image_embeds", "vae/encoder::in.0", "vae/quant_conv::out", "unet/root@0::kw.encoder_hidden_states", "unet/root@0::kw.image_latents", "unet/root@0::kw.image_embeddings", "unet/root@2::out.0", "video" })
        {
            Assert.Contains(lines, l => l.StartsWith(stage + " ", StringComparison.Ordinal));
        }

        Assert.EndsWith("PASS", lines[^1], StringComparison.Ordinal);
    }

    [Fact]
    public void Demo_writes_a_gif_and_png_frames_of_the_requested_size()
    {
        var gif = Path.Combine(_dir, "demo.gif");
        var (code, output, error) = Run(["generate", "--demo", "--out", gif, "--cache-dir", Cache, "--seed", "7"]);
        Assert.True(code == ExitCodes.Success, error);
        Assert.Equal(gif, output.Trim());
        Assert.Contains("random", error, StringComparison.Ordinal);
        using (var image = Image.Load<Rgb24>(gif))
        {
            Assert.Equal((4, 56, 40), (image.Frames.Count, image.Width, image.Height));
        }

        var folder = Path.Combine(_dir, "frames") + Path.DirectorySeparatorChar;
        (code, _, error) = Run(["generate", "--demo", "--out", folder, "--cache-dir", Cache, "--seed", "7", "--frames", "3", "--device", "cpu", "--no-cuda-graphs"]);
        Assert.True(code == ExitCodes.Success, error);
        var files = Directory.GetFiles(folder).Select(f => Path.GetFileName(f)!).Order().ToArray();
        Assert.Equal(["frame_0000.png", "frame_0001.png", "frame_0002.png", "frames.json"], files); // the settings inside the folder
        using var frame = Image.Load<Rgb24>(Path.Combine(folder, "frame_0002.png"));
        Assert.Equal((56, 40), (frame.Width, frame.Height));
    }

    [Fact]
    public void Same_seed_gives_the_same_video()
    {
        using var engine = VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(Cache)));
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        var options = new GenerationOptions { Prompt = "a cat", Frames = 2, Steps = 2, Height = 40, Width = 56, Seed = 123 };
        var first = engine.Generate(image, options, cancellation: TestContext.Current.CancellationToken);
        var second = engine.Generate(image, options, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal(first.Video.ToFloat32Array(), second.Video.ToFloat32Array());
        Assert.Equal(123UL, first.Seed);
        var other = engine.Generate(image, options with { Seed = 124 }, cancellation: TestContext.Current.CancellationToken);
        Assert.NotEqual(first.Video.ToFloat32Array(), other.Video.ToFloat32Array());
        Assert.Equal(2, first.Frames.Count);
        Assert.All(Enum.GetValues<GenerationStage>(), s => Assert.True(first.StageTimes.ContainsKey(s)));
    }

    [Fact]
    public void Sampled_image_latents_and_eta_follow_the_seed()
    {
        using var engine = VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(Cache)));
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        var mean = new GenerationOptions { Prompt = "a cat", Frames = 2, Steps = 2, Height = 40, Width = 56, Seed = 9 };
        var sampled = mean with { VaeEncode = VaeEncodeMode.Sample };
        var noisy = mean with { Eta = 0.5f };
        var token = TestContext.Current.CancellationToken;
        var baseline = engine.Generate(image, mean, cancellation: token).Video.ToFloat32Array();
        var a = engine.Generate(image, sampled, cancellation: token).Video.ToFloat32Array();
        Assert.Equal(a, engine.Generate(image, sampled, cancellation: token).Video.ToFloat32Array());
        Assert.NotEqual(baseline, a);
        var b = engine.Generate(image, noisy, cancellation: token).Video.ToFloat32Array();
        Assert.Equal(b, engine.Generate(image, noisy, cancellation: token).Video.ToFloat32Array());
        Assert.NotEqual(baseline, b);
    }

    [Fact]
    public void Eta_noise_is_drawn_in_diffusers_layout_after_the_initial_noise()
    {
        // With the initial noise given and the image latent's mean, the step's noise is the generator's first draw:
        // torch.randn of the (1, L, F, h, w) model output, in that element order. The observer sees the tensors in
        // that layout too, so the step can be checked from what it reports: input(step 1) = DDIM(guide(output(step 0))).
        using var engine = VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(Cache)));
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        var shape = new CudaI2V.Runtime.Tensors.TensorShape(1, 4, 2, 20, 28);
        var options = new GenerationOptions
        {
            Prompt = "a cat",
            Frames = 2,
            Steps = 2,
            Height = 40,
            Width = 56,
            Seed = 5,
            Eta = 1f,
            InitialNoise = new CudaI2V.Pipeline.Noise.SeededRandom(3).StandardNormal(shape),
        };
        var steps = new StepObserver();
        engine.Generate(image, options, observer: steps, cancellation: TestContext.Current.CancellationToken);

        var scheduler = new CudaI2V.Pipeline.Scheduling.DDIMScheduler(ModelDirectory.Open(Fixtures.PipelineTiny).Scheduler);
        scheduler.SetTimesteps(2);
        var (t, input, output) = steps.Steps[0];
        var half = (int)shape.ElementCount;
        var expected = scheduler.Step(
            GuidanceReference.Guide(output, (float)options.Guidance), (int)t, CudaI2V.Runtime.Tensors.Tensor.FromSpan<float>(input.ToFloat32Array().AsSpan(0, half), shape),
            options.Eta, new CudaI2V.Pipeline.Noise.SeededRandom(5));
        Assert.Equal(expected.ToFloat32Array(), steps.Steps[1].Input.ToFloat32Array()[..half]);
    }

    private sealed class StepObserver : IGenerationObserver
    {
        public List<(float Timestep, CudaI2V.Runtime.Tensors.Tensor Input, CudaI2V.Runtime.Tensors.Tensor Output)> Steps { get; } = [];

        public void Tensor(string name, CudaI2V.Runtime.Tensors.Tensor value)
        {
        }

        public void UNetStep(int stepIndex, float timestep, CudaI2V.Runtime.Tensors.Tensor input, CudaI2V.Runtime.Tensors.Tensor output) => Steps.Add((timestep, input, output));
    }

    [Fact]
    public void Without_guidance_the_batch_is_one_and_initial_noise_can_be_given()
    {
        using var engine = VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(Cache)));
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        var noise = new CudaI2V.Pipeline.Noise.SeededRandom(3).StandardNormal(new CudaI2V.Runtime.Tensors.TensorShape(1, 4, 2, 20, 28));
        var options = new GenerationOptions { Prompt = "a cat", Frames = 2, Steps = 1, Height = 40, Width = 56, Guidance = 1.0, InitialNoise = noise };
        var observed = new List<int>();
        var result = engine.Generate(image, options, observer: new BatchObserver(observed), cancellation: TestContext.Current.CancellationToken);
        Assert.Equal([1], observed);
        Assert.Equal(2, result.Frames.Count);
        var wrong = options with { InitialNoise = new CudaI2V.Pipeline.Noise.SeededRandom(3).StandardNormal(new CudaI2V.Runtime.Tensors.TensorShape(1, 4, 3, 20, 28)) };
        Assert.Throws<ArgumentException>(() => engine.Generate(image, wrong, cancellation: TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Non_finite_values_stop_the_run_naming_the_step()
    {
        using var engine = VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(Cache)));
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        var noise = new CudaI2V.Pipeline.Noise.SeededRandom(3).StandardNormal(new CudaI2V.Runtime.Tensors.TensorShape(1, 4, 2, 20, 28));
        noise.AsSpan<float>()[17] = float.NaN;
        var options = new GenerationOptions { Prompt = "a cat", Frames = 2, Steps = 2, Height = 40, Width = 56, InitialNoise = noise };
        var e = Assert.Throws<NonFiniteValuesException>(() => engine.Generate(image, options, cancellation: TestContext.Current.CancellationToken));
        Assert.Contains("Step 1 (t=", e.Message, StringComparison.Ordinal);
        Assert.Contains("non-finite", e.Message, StringComparison.Ordinal);
    }

    private sealed class BatchObserver(List<int> batches) : IGenerationObserver
    {
        public void Tensor(string name, CudaI2V.Runtime.Tensors.Tensor value)
        {
        }

        public void UNetStep(int stepIndex, float timestep, CudaI2V.Runtime.Tensors.Tensor input, CudaI2V.Runtime.Tensors.Tensor output) => batches.Add(input.Shape[0]);
    }

    [Fact]
    public void Progress_reports_every_step_and_cancellation_stops_the_engine()
    {
        using var engine = VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(Cache)));
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        var options = new GenerationOptions { Prompt = "a cat", Frames = 2, Steps = 3, Height = 40, Width = 56, Seed = 1 };
        var reports = new List<GenerationProgress>();
        engine.Generate(image, options, new SyncProgress<GenerationProgress>(reports.Add), cancellation: TestContext.Current.CancellationToken);
        Assert.Equal([1, 2, 3], reports.Where(r => r.Stage == GenerationStage.Denoising && r.Step > 0 && r.StepOpsTotal == 0).Select(r => r.Step));
        Assert.Contains(reports, r => r.Stage == GenerationStage.Decoding && r.Step == 2 && r.TotalSteps == 2);

        using var cancel = new CancellationTokenSource();
        var progress = new SyncProgress<GenerationProgress>(r =>
        {
            if (r.Stage == GenerationStage.Denoising && r.Step == 1)
            {
                cancel.Cancel();
            }
        });
        Assert.ThrowsAny<OperationCanceledException>(() => engine.Generate(image, options, progress, cancellation: cancel.Token));
    }

    [Fact]
    public void Cancelling_inside_a_stage_stops_at_the_next_op_and_reports_arrive_in_order()
    {
        using var engine = VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(Cache)));
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        var options = new GenerationOptions { Prompt = "a cat", Frames = 2, Steps = 2, Height = 40, Width = 56, Seed = 1 };
        using var cancel = new CancellationTokenSource();
        var reports = new List<GenerationProgress>();
        var progress = new SyncProgress<GenerationProgress>(r =>
        {
            reports.Add(r);
            if (r.Stage == GenerationStage.Denoising && r.Step == 0)
            {
                cancel.Cancel(); // before the first step ends: the step's own ops see it
            }
        });
        Assert.ThrowsAny<OperationCanceledException>(() => engine.Generate(image, options, progress, cancellation: cancel.Token));
        Assert.Equal(GenerationStage.Denoising, reports[^1].Stage);
        Assert.Equal(0, reports[^1].Step);

        // Reports come in order (stage, then the position within it), and a step's op counts stay within its plan.
        reports.Clear();
        engine.Generate(image, options, progress: new SyncProgress<GenerationProgress>(reports.Add), cancellation: TestContext.Current.CancellationToken);
        for (var i = 1; i < reports.Count; i++)
        {
            var (previous, current) = (reports[i - 1], reports[i]);
            Assert.True(current.Stage > previous.Stage || (current.Stage == previous.Stage && current.Position >= previous.Position), $"{previous} then {current}");
        }

        Assert.All(reports.Where(r => r.StepOpsTotal > 0), r => Assert.InRange(r.StepOps, 1, r.StepOpsTotal - 1));
    }

    [Fact]
    public void Cancelling_mid_run_leaves_no_output_file()
    {
        using var cancel = new CancellationTokenSource();
        var stderr = new CancelAt("denoising", " 1/3 ", cancel);
        var gif = Path.Combine(_dir, "cancelled.gif");
        var (code, _, error) = RunWith(["generate", "--demo", "--out", gif, "--cache-dir", Cache, "--steps", "3"], stderr, cancel.Token);
        Assert.Equal(ExitCodes.Failed, code);
        Assert.Contains("cancelled; no video was written", error, StringComparison.Ordinal);
        Assert.DoesNotContain(Directory.GetFileSystemEntries(_dir), p => !p.EndsWith("cache", StringComparison.Ordinal));
    }

    [Fact]
    public void Bad_input_gets_a_message_and_exit_code_2_or_3()
    {
        var model = Fixtures.PipelineTiny;
        var png = Fixtures.Path("pipeline-tiny", "input.png");
        string[] Args(string option, string value)
        {
            var settings = new Dictionary<string, string>
            {
                ["--model"] = model,
                ["--image"] = png,
                ["--prompt"] = "a cat",
                ["--height"] = "40",
                ["--width"] = "56",
                ["--frames"] = "2",
                ["--steps"] = "1",
                ["--cache-dir"] = Cache,
                ["--out"] = Path.Combine(_dir, "v.gif"),
            };
            settings[option] = value;
            return ["generate", .. settings.SelectMany(p => new[] { p.Key, p.Value })];
        }

        var notImage = Path.Combine(_dir, "text.png");
        File.WriteAllText(notImage, "hello");
        Assert.Equal(ExitCodes.BadInput, Run(["generate", "--model", model, "--image", notImage, "--prompt", "x", "--cache-dir", Cache]).Code);
        Assert.Equal(ExitCodes.BadInput, Run(["generate", "--model", model, "--image", Path.Combine(_dir, "none.png"), "--prompt", "x", "--cache-dir", Cache]).Code);
        var odd = Run(Args("--height", "41"));
        Assert.Equal(ExitCodes.Usage, odd.Code);
        Assert.Contains("multiple of 8", odd.Err, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Usage, Run(Args("--frames", "0")).Code);
        Assert.Equal(ExitCodes.Usage, Run(Args("--steps", "0")).Code);
        Assert.Equal(ExitCodes.Usage, Run(Args("--guidance", "-1")).Code);
        Assert.Equal(ExitCodes.Usage, Run(["generate", "--image", png, "--prompt", "x"]).Code);
        var avi = Run(Args("--out", Path.Combine(_dir, "v.avi")));
        Assert.Equal(ExitCodes.Usage, avi.Code);
        Assert.Contains(".gif or .mp4", avi.Err, StringComparison.Ordinal);

        var blocker = Path.Combine(_dir, "a-file");
        File.WriteAllText(blocker, "x");
        var unwritable = Run(Args("--out", Path.Combine(blocker, "v.gif")));
        Assert.Equal(ExitCodes.Usage, unwritable.Code);
        Assert.Contains("Cannot write", unwritable.Err, StringComparison.Ordinal);

        var broken = Path.Combine(_dir, "broken-model");
        Fixtures.CopyTree(model, broken);
        Directory.Delete(Path.Combine(broken, "vae"), recursive: true);
        var missing = Run(["generate", "--model", broken, "--image", png, "--prompt", "a cat", "--height", "40", "--width", "56", "--cache-dir", Cache, "--out", Path.Combine(_dir, "w.gif")]);
        Assert.Equal(ExitCodes.BadInput, missing.Code);
        Assert.Contains("vae", missing.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", missing.Err, StringComparison.Ordinal);
    }

    /// <summary>A stderr that cancels the run when the progress bar shows a given step (a Ctrl+C at a known moment).</summary>
    private sealed class CancelAt(string stage, string step, CancellationTokenSource cancel) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            Write(value);
            base.WriteLine();
        }

        public override void Write(string? value)
        {
            base.Write(value);
            if (value is not null && value.Contains(stage, StringComparison.Ordinal) && value.Contains(step, StringComparison.Ordinal))
            {
                cancel.Cancel();
            }
        }
    }
}
