using System.Diagnostics;
using System.Globalization;
using CudaI2V.Cli.Demo;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Loader;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Pipeline.Output;
using CudaI2V.Runtime.Caching;

namespace CudaI2V.Cli.Commands;

/// <summary><c>cudai2v generate</c>: an image and a prompt in, a video out.</summary>
internal static class GenerateCommand
{
    private const string DemoOut = "cudai2v-demo.gif";

    /// <summary>The help line of <c>--vae-precision</c> (generate and verify pipeline).</summary>
    internal const string VaePrecisionHelp =
        "The VAE's precision: fp32 where its config sets force_upcast and the rest runs in fp16/bf16 (auto), the rest's (model), or fp32.";

    public static CommandSpec Spec { get; } = new(
        "generate",
        "Generate a video from an image and a prompt (or a quick demo with --demo).",
        "--model <folder> --image <file> --prompt <text> [options]   |   --demo [--out <path>]",
        [
            new OptionSpec("model", "folder", "The pipeline folder (model_index.json and its components).", Letter: 'm'),
            new OptionSpec("image", "file", "The first frame's image (PNG, JPEG, BMP, GIF, TGA, WebP, TIFF).", Letter: 'i'),
            new OptionSpec("prompt", "text", "What the video should show; give it several times for one video (or --count) per prompt.", Repeatable: true, Letter: 'p'),
            new OptionSpec("negative-prompt", "text", "What it should not show.", Default: "empty", Letter: 'n'),
            new OptionSpec("frames", "n", "Frames of video.", Default: "16"),
            new OptionSpec("steps", "n", "Denoising steps.", Default: "50"),
            new OptionSpec("guidance", "scale", "Classifier-free guidance scale (active above 1).", Default: "9"),
            new OptionSpec("fps", "n", "Frame rate: the model's conditioning and the video's.", Default: "16"),
            new OptionSpec("height", "pixels", "Video height, a multiple of 8.", Default: "704", Letter: 'H'),
            new OptionSpec("width", "pixels", "Video width, a multiple of 8.", Default: "1280", Letter: 'W'),
            new OptionSpec("seed", "n", "Seed of the noise; the same seed gives the same noise on every machine. One seed for several videos gives seed, seed+1, ...; or one per video.", Default: "random (printed)", Repeatable: true, Letter: 's'),
            new OptionSpec("count", "n", "Videos per prompt, made on one loaded model; outputs are numbered (d.gif: d-1.gif, d-2.gif, ...).", Default: "1, or the number of seeds"),
            new OptionSpec("batch", "file.jsonl", "Requests, one JSON object per line: prompt, negative_prompt, seed, image, out, frames, steps, guidance, fps, height, width, decode_chunk (the rest from the command line)."),
            new OptionSpec("decode-chunk", "n", "Frames the VAE decodes at a time (memory only).", Default: "planned"),
            new OptionSpec("memory-budget", "size", "The most device memory to use, weights included (24GiB, 8GiB, 512MiB): the run holds less at once, more slowly, to fit; see 'cudai2v plan'.", Default: "the free memory"),
            new OptionSpec("out", "path", "video.gif, video.mp4 (needs ffmpeg) or a folder/ of PNG frames; its settings go beside it in video.json (frames: inside the folder).", Default: "video.gif", Letter: 'o'),
            new OptionSpec("preview", "n", "Every n denoising steps, write a cheap preview of every frame (the latents mapped to RGB at 1/8 size, as a grid) to <out stem>.preview.png beside the output.", Default: "none"),
            new OptionSpec("device", "auto|cpu|cuda", "Where the UNet, VAE and image encoder run: the GPU when one works (auto), the fp32 CPU reference, or the GPU only.", Default: "auto"),
            new OptionSpec("variant", "fp32|fp16", "Which weight files to load where both exist.", Default: "fp32 on the CPU"),
            new OptionSpec("vae-precision", "auto|model|fp32", VaePrecisionHelp, Default: "auto"),
            new OptionSpec("cache-dir", "folder", "Where built models and caches are kept.", Default: "$CUDAI2V_CACHE_DIR or the user cache folder"),
            new OptionSpec("attention", "gemm|flash", "The GPU's attention: batched GEMMs around a softmax kernel, or the fused FlashAttention.cu (fp16/bf16, head dimensions 64 and 80; other calls take the GEMM path).", Default: MatrixOpSet.DefaultAttention),
            new OptionSpec("dtype", "fp16|bf16|fp32", "The GPU's storage type (fp32 accumulation either way); bf16 has fp32's range, for runs that overflow in fp16; fp32 is the slow reference. The CPU runs in fp32.", Default: "fp16"),
            new OptionSpec("no-cuda-graphs", null, "On the GPU, launch the UNet step's kernels directly instead of replaying the step as a CUDA graph (the same video; graphs save a few ms per step)."),
            new OptionSpec("demo", null, "Write a small random-weight pipeline (no download) and make a short video from a built-in image."),
            .. SamplerOptions.Specs,
            .. SpeedOptions.Specs,
        ],
        Run,
        "Several --prompt values, --count or --batch make several videos on one loaded model.\n"
        + "--demo needs no other option: the model's weights are random, so the video is noise-like; it shows the whole\n"
        + "pipeline running. For real videos, download the diffusers folder of ali-vilab/i2vgen-xl and pass it as --model.\n"
        + "Output files are written under a temporary name and renamed when complete; Ctrl+C leaves no partial video.");

    private static int Run(ParsedArgs args, CliContext context)
    {
        var device = args.Choice("device", "auto", Backends.Devices);
        var dtype = args.GetGpuDType(allowFp32: true);
        var vaePrecision = args.GetVaePrecision();
        var demo = args.Has("demo");
        var previewEvery = args.Has("preview") ? args.GetInt32("preview", 1, 1, 100000) : 0;

        // The output is checked first: a path that cannot be written is refused before any model or image is read.
        var outPath = args.Get("out", demo ? DemoOut : "video.gif")!;
        CheckOut(outPath);

        var cache = CacheRoot.Resolve(args.Get("cache-dir"));
        var jobs = PlanJobs(args, demo, context.Error);
        foreach (var job in jobs.Where(j => j.Out != outPath))
        {
            CheckOut(job.Out);
        }

        var images = LoadImages(jobs);

        var modelPath = demo ? DemoModel.Ensure(cache.Path) : args.Get("model")!;
        if (demo)
        {
            context.Error.WriteLine($"cudai2v generate: demo model at {modelPath}. Its weights are random, so the video will not look like anything; pass --model with a download of ali-vilab/i2vgen-xl for real videos.");
        }

        var variant = args.Variant();
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(context.Cancellation);
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            // The first Ctrl+C stops the run at the next op (a fraction of a second on the CPU) and writes nothing; a second
            // one, while that is under way, ends the process at once.
            if (cancellation.IsCancellationRequested)
            {
                return;
            }

            e.Cancel = true;
            context.Error.WriteLine();
            context.Error.WriteLine("cudai2v generate: cancelling (press Ctrl+C again to quit at once)...");
            cancellation.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var model = ModelDirectory.Open(modelPath);
            foreach (var job in jobs)
            {
                SamplerOptions.Check(model, job.Options);
                SpeedOptions.Check(model, job.Options);
            }

            var ops = Backends.Create(device, cache, context.Error, dtype, args.GetAttention());
            var load = Stopwatch.StartNew();
            using var engine = VideoEngineLoader.Load(model, new EngineLoadOptions(cache, variant, line => context.Error.WriteLine($"cudai2v generate: {line}"), ops, vaePrecision));
            engine.UseGraphs = !args.Has("no-cuda-graphs");
            var runModel = RunModel.Of(modelPath, engine, cache);
            return new GenerateBatch(engine, runModel, load.Elapsed, context, previewEvery).Run(jobs, images, cache, cancellation.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>An output path that cannot be written is a usage error, found before any model or image is read.</summary>
    private static void CheckOut(string path)
    {
        try
        {
            OutputPath.Check(path);
        }
        catch (OutputPathException e)
        {
            throw new UsageException($"--out: {e.Message}");
        }
    }

    /// <summary>The videos to make: from <c>--batch</c>, or the prompts, seeds and count of the command line.</summary>
    private static IReadOnlyList<GenerationJob> PlanJobs(ParsedArgs args, bool demo, TextWriter log)
    {
        var prompts = args.GetAll("prompt");
        string? image = null;
        if (demo)
        {
            if (args.Has("model") || args.Has("image"))
            {
                throw new UsageException("--demo makes its own model and image; drop --model and --image.");
            }
        }
        else
        {
            _ = args.Get("model") ?? throw new UsageException("'generate' needs --model <folder> (or --demo).");
            image = args.Get("image") ?? (args.Has("batch") ? null : throw new UsageException("'generate' needs --image <file> (or --demo)."));
            if (prompts.Count == 0 && !args.Has("batch"))
            {
                throw new UsageException("'generate' needs --prompt <text> (or --demo).");
            }
        }

        var template = Validated(demo
            ? SamplerOptions.ApplyPreset(args, ReadOptions(args, DemoModel.Prompt, DemoModel.NegativePrompt, frames: 4, steps: 3, height: 40, width: 56), 3, log)
            : SamplerOptions.ApplyPreset(args, ReadOptions(args, prompts.Count > 0 ? prompts[0] : "(from --batch)", null, frames: 16, steps: 50, height: 704, width: 1280), null, log));
        var outPath = args.Get("out", demo ? DemoOut : "video.gif")!;
        int? count = args.Has("count") ? args.GetInt32("count", 1, 1, 10000) : null;
        IReadOnlyList<GenerationJob> jobs;
        if (args.Get("batch") is { } file)
        {
            if (prompts.Count > 0 || args.Has("seed") || count is not null)
            {
                throw new UsageException("--batch takes the prompts and seeds from its file; drop --prompt, --seed and --count (or put them in the file).");
            }

            jobs = GenerationJobs.FromJsonLines(file, template, image, outPath, promptRequired: !demo);
            if (!demo && jobs.FirstOrDefault(j => j.ImagePath is null) is { } noImage)
            {
                throw new UsageException($"--batch: the request for {noImage.Out} has no image; give --image <file> or an \"image\" field.");
            }
        }
        else
        {
            var seeds = args.GetAll("seed").Select(text => ulong.TryParse(text, System.Globalization.NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed)
                ? seed
                : throw new UsageException($"--seed must be an integer from 0 to {ulong.MaxValue}, got '{text}'.")).ToList();
            jobs = GenerationJobs.FromCommandLine(template, prompts.Count > 0 ? prompts : [template.Prompt], seeds, count, image, outPath);
        }

        var twice = jobs.GroupBy(j => Path.GetFullPath(j.Out).TrimEnd('/', Path.DirectorySeparatorChar), StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        return twice is null ? jobs : throw new UsageException($"Two videos of this run would be written to {twice.Key}; give each its own \"out\".");
    }

    /// <summary>Every input image of the run, read before the model loads (the demo's under the null key).</summary>
    private static Dictionary<string, RgbImage> LoadImages(IReadOnlyList<GenerationJob> jobs)
    {
        var images = new Dictionary<string, RgbImage>(StringComparer.Ordinal);
        foreach (var path in jobs.Select(j => j.ImagePath ?? "").Distinct(StringComparer.Ordinal))
        {
            images[path] = path.Length == 0 ? DemoModel.Image() : ImageLoader.Load(path);
        }

        return images;
    }

    private static GenerationOptions ReadOptions(ParsedArgs args, string prompt, string? negative, int frames, int steps, int height, int width)
    {
        var options = new GenerationOptions
        {
            Prompt = prompt,
            NegativePrompt = args.Get("negative-prompt", negative),
            Frames = args.GetInt32("frames", frames, 1, 1024),
            Steps = args.GetInt32("steps", steps, 1, 1000),
            Guidance = args.GetNonNegativeDouble("guidance", 9.0),
            Fps = args.GetInt32("fps", 16, 1, 240),
            Height = args.GetInt32("height", height, 8, 16384),
            Width = args.GetInt32("width", width, 8, 16384),
            DecodeChunk = args.Has("decode-chunk") ? args.GetInt32("decode-chunk", 1, 1, 1024) : null,
            MemoryBudget = args.GetByteSize("memory-budget"),
            Sampler = SamplerOptions.Sampler(args),
        };
        return Validated(SpeedOptions.Read(args, options));
    }

    /// <summary>Every setting checked (again after a preset changed some); a wrong one is a usage error naming the option.</summary>
    private static GenerationOptions Validated(GenerationOptions options)
    {
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal));
        }

        return options;
    }

}
