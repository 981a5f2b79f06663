using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CudaI2V.Cli.Demo;
using CudaI2V.Loader;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.Output;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Memory;

namespace CudaI2V.Cli.Commands;

/// <summary>
/// <c>cudai2v bench pipeline</c>: whole requests, one per preset, on one loaded engine: the time of each stage, the
/// UNet calls and the counted TFLOP per video, and the planned memory. Without <c>--model</c> it runs the demo's tiny
/// pipeline (random weights, no download), on the CPU where there is no GPU.
/// </summary>
internal static class PipelineBench
{
    /// <summary>One preset's run.</summary>
    private sealed record Row(
        GenerationPreset Preset, GenerationOptions Options, RequestPlan Plan, IReadOnlyDictionary<GenerationStage, TimeSpan> Stages, TimeSpan Write, double[] StepMs)
    {
        public double MedianStepMs => StepMs.Length == 0 ? 0 : StepMs.Order().ElementAt(StepMs.Length / 2);

        /// <summary>UNet calls of a whole video at the preset's step count (each call evaluates both guidance halves as one batch).</summary>
        public int UNetCalls => Preset.Steps;

        public StepCaching? Caching => StepCaching.Of(Options);

        /// <summary>The calls that run the whole UNet; the others run only its shallow branch (step caching).</summary>
        public int FullCalls => Plan.Step.Cached is null ? UNetCalls : UNetStepPlan.FullSteps(Caching, UNetCalls);

        public int CachedCalls => UNetCalls - FullCalls;

        /// <summary>The counted TFLOP of a whole video's UNet calls, full and cached.</summary>
        public double UNetTflop => Plan.Step.FlopsOf(Caching, UNetCalls) / 1e12;

        public double FullTflop => Plan.Step.Runs * FullCalls * Plan.Step.Flops / 1e12;

        public double CachedTflop => UNetTflop - FullTflop;

        public double DecodeTflop => Math.Ceiling((double)Options.Frames / Plan.DecodeChunk) * Plan.Decode.Flops / 1e12;

        /// <summary>The denoising time of a whole video at the preset's steps: the measured one, or the median step times the steps where fewer ran.</summary>
        public double DenoiseSeconds => Options.Steps == Preset.Steps ? Stages[GenerationStage.Denoising].TotalSeconds : MedianStepMs * Preset.Steps / 1000;
    }

    public static int Run(ParsedArgs args, CliContext context)
    {
        var cache = CacheRoot.Resolve(args.Get("cache-dir"));
        var demo = !args.Has("model");
        var modelPath = args.Get("model") ?? DemoModel.Ensure(cache.Path);
        var presets = args.Get("presets", string.Join(',', GenerationPreset.Names))!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(n => GenerationPreset.Find(n) ?? throw new UsageException($"--presets: unknown preset '{n}'; presets are {string.Join(", ", GenerationPreset.Names)}."))
            .ToArray();
        int? stepCap = args.Has("steps") ? args.GetInt32("steps", 1, 1, 1000) : null;
        var frames = args.GetInt32("frames", demo ? 2 : 16, 1, 1024);
        var height = args.GetInt32("height", demo ? 40 : 512, 8, 16384);
        var width = args.GetInt32("width", demo ? 56 : 512, 8, 16384);
        var json = args.Get("json");
        var intervals = args.Get("cache-intervals") is { } list
            ? list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(n => int.TryParse(n, out var v) && v >= 1 && v <= 1000 ? (int?)v : throw new UsageException($"--cache-intervals: '{n}' is not a cache interval (an integer from 1 to 1000)."))
                .ToArray()
            : [null];
        var log = (string line) => context.Error.WriteLine($"cudai2v bench pipeline: {line}");
        if (demo)
        {
            log("no --model: the demo's tiny pipeline with random weights (the figures say nothing about the release model's speed).");
        }

        var ops = Backends.Create(args.Choice("device", "auto", Backends.Devices), cache, context.Error, args.GetGpuDType(allowFp32: true));
        using var engine = VideoEngineLoader.Load(ModelDirectory.Open(modelPath), new EngineLoadOptions(cache, null, null, ops));
        var device = string.Join(" + ", engine.Backends.Select(b => b.Memory.Description).Distinct());
        var image = DemoModel.Image();
        var rows = new List<Row>();
        foreach (var (preset, interval) in presets.SelectMany(p => intervals.Select(n => (p, n))))
        {
            var request = new GenerationOptions { Prompt = DemoModel.Prompt, Frames = frames, Height = height, Width = width, Seed = 1, CacheInterval = interval ?? 1 };
            var instead = stepCap is { } cap && cap < preset.Steps ? cap : (int?)null;
            var given = interval is null ? new HashSet<PresetSetting>() : [PresetSetting.CacheInterval];
            var (options, settings) = preset.Apply(request, given, instead, "--steps");
            log($"preset {preset.Name}: {string.Join(", ", settings)}; {width}x{height}, {frames} frames on {device}.");
            var plan = engine.PlanRequest(options).Request;
            var clock = new StepClock();
            var result = engine.Generate(image, options, clock, cancellation: context.Cancellation);
            var write = Stopwatch.StartNew();
            var gif = Path.Combine(Path.GetTempPath(), $"cudai2v-bench-{Environment.ProcessId}.gif");
            try
            {
                new VideoWriter().Write(gif, result.Frames, options.Fps, context.Cancellation);
            }
            finally
            {
                File.Delete(gif);
            }

            rows.Add(new Row(preset, options, plan, result.StageTimes, write.Elapsed, [.. clock.StepMs]));
        }

        Print(context.Out, rows);
        if (json is not null)
        {
            WriteJson(json, modelPath, demo, device, rows);
            log($"wrote {json}");
        }

        return ExitCodes.Success;
    }

    private static void Print(TextWriter output, IReadOnlyList<Row> rows)
    {
        output.WriteLine(
            "preset   sampler   steps run  cache N  UNet calls (full+cached)  TFLOP full  TFLOP cached  UNet TFLOP/video  ms/step  denoise s/video  prompt s  image s  decode s  write s  planned memory");
        foreach (var r in rows)
        {
            var calls = $"{r.UNetCalls} ({r.FullCalls}+{r.CachedCalls})";
            output.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"{r.Preset.Name,-8} {r.Options.Sampler,-9} {r.Options.Steps,5} {r.Options.CacheInterval,8} {calls,25} {r.FullTflop,11:F4} {r.CachedTflop,13:F4} {r.UNetTflop,17:F4} {r.MedianStepMs,8:F1} {r.DenoiseSeconds,16:F2} "
                + $"{Seconds(r, GenerationStage.EncodingPrompt),9:F2} {Seconds(r, GenerationStage.EncodingImage),8:F2} {Seconds(r, GenerationStage.Decoding),9:F2} {r.Write.TotalSeconds,8:F2}  {ArenaPlan.FormatBytes(r.Plan.ActivationBytes)}"));
        }

        if (rows.Any(r => r.Options.Steps != r.Preset.Steps))
        {
            output.WriteLine("(where fewer steps ran than the preset's, 'denoise s/video' is the median step times the preset's steps)");
        }
    }

    private static double Seconds(Row r, GenerationStage stage) => r.Stages.TryGetValue(stage, out var t) ? t.TotalSeconds : 0;

    private static void WriteJson(string path, string model, bool demo, string device, IReadOnlyList<Row> rows)
    {
        using var stream = File.Create(path);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("benchmark", "pipeline");
        json.WriteString("model", demo ? "demo (tiny pipeline, random weights)" : Path.GetFullPath(model));
        json.WriteString("device", device);
        json.WriteString("utc", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
        json.WriteStartArray("presets");
        foreach (var r in rows)
        {
            json.WriteStartObject();
            json.WriteString("preset", r.Preset.Name);
            json.WriteString("sampler", r.Options.Sampler);
            json.WriteNumber("steps", r.Preset.Steps);
            json.WriteNumber("steps_run", r.Options.Steps);
            json.WriteNumber("guidance", r.Options.Guidance);
            json.WriteNumber("height", r.Options.Height);
            json.WriteNumber("width", r.Options.Width);
            json.WriteNumber("frames", r.Options.Frames);
            json.WriteNumber("cache_interval", r.Options.CacheInterval);
            json.WriteNumber("unet_calls_per_video", r.UNetCalls);
            json.WriteNumber("full_calls_per_video", r.FullCalls);
            json.WriteNumber("cached_calls_per_video", r.CachedCalls);
            json.WriteNumber("unet_tflop_per_call", r.Plan.Step.Flops / 1e12);
            json.WriteNumber("unet_tflop_per_cached_call", (r.Plan.Step.Cached?.Flops ?? 0) / 1e12);
            json.WriteNumber("unet_tflop_full", r.FullTflop);
            json.WriteNumber("unet_tflop_cached", r.CachedTflop);
            json.WriteNumber("unet_tflop_per_video", r.UNetTflop);
            json.WriteNumber("vae_decode_tflop_per_video", r.DecodeTflop);
            json.WriteNumber("planned_bytes", r.Plan.ActivationBytes);
            json.WriteNumber("sampler_history_bytes", r.Plan.SamplerBytes);
            json.WriteNumber("ms_per_step_median", r.MedianStepMs);
            json.WriteNumber("denoise_seconds_per_video", r.DenoiseSeconds);
            json.WriteStartObject("stage_seconds");
            foreach (var (stage, time) in r.Stages.OrderBy(p => p.Key))
            {
                json.WriteNumber(stage.ToString(), time.TotalSeconds);
            }

            json.WriteNumber("Writing", r.Write.TotalSeconds);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>The time of each denoising step, from the engine's progress reports (synchronous, in the engine's thread).</summary>
    private sealed class StepClock : IProgress<GenerationProgress>
    {
        private TimeSpan _last;

        public List<double> StepMs { get; } = [];

        public void Report(GenerationProgress value)
        {
            if (value.Stage == GenerationStage.Denoising && value.Step > 0)
            {
                StepMs.Add((value.Elapsed - _last).TotalMilliseconds);
            }

            _last = value.Elapsed;
        }
    }
}
