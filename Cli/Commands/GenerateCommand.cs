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
            new OptionSpec("model", "folder", "The pipeline folder (model_index.json and its components)."),
            new OptionSpec("image", "file", "The first frame's image (PNG, JPEG, BMP, GIF, TGA, WebP, TIFF)."),
            new OptionSpec("prompt", "text", "What the video should show."),
            new OptionSpec("negative-prompt", "text", "What it should not show.", Default: "empty"),
            new OptionSpec("frames", "n", "Frames of video.", Default: "16"),
            new OptionSpec("steps", "n", "Denoising steps.", Default: "50"),
            new OptionSpec("guidance", "scale", "Classifier-free guidance scale (active above 1).", Default: "9"),
            new OptionSpec("fps", "n", "Frame rate: the model's conditioning and the video's.", Default: "16"),
            new OptionSpec("height", "pixels", "Video height, a multiple of 8.", Default: "704"),
            new OptionSpec("width", "pixels", "Video width, a multiple of 8.", Default: "1280"),
            new OptionSpec("seed", "n", "Seed of the noise; the same seed gives the same noise on every machine.", Default: "random (printed)"),
            new OptionSpec("decode-chunk", "n", "Frames the VAE decodes at a time (memory only).", Default: "1"),
            new OptionSpec("out", "path", "video.gif, video.mp4 (needs ffmpeg) or a folder/ of PNG frames.", Default: "video.gif"),
            new OptionSpec("device", "auto|cpu|cuda", "Where the UNet, VAE and image encoder run: the GPU when one works (auto), the fp32 CPU reference, or the GPU only.", Default: "auto"),
            new OptionSpec("variant", "fp32|fp16", "Which weight files to load where both exist.", Default: "fp32 on the CPU"),
            new OptionSpec("vae-precision", "auto|model|fp32", VaePrecisionHelp, Default: "auto"),
            new OptionSpec("cache-dir", "folder", "Where built models and caches are kept.", Default: "$CUDAI2V_CACHE_DIR or the user cache folder"),
            new OptionSpec("attention", "gemm|flash", "The GPU's attention: batched GEMMs around a softmax kernel, or the fused FlashAttention.cu (fp16/bf16, head dimensions 64 and 80; other calls take the GEMM path).", Default: MatrixOpSet.DefaultAttention),
            new OptionSpec("dtype", "fp16|bf16|fp32", "The GPU's storage type (fp32 accumulation either way); bf16 has fp32's range, for runs that overflow in fp16; fp32 is the slow reference. The CPU runs in fp32.", Default: "fp16"),
            new OptionSpec("no-cuda-graphs", null, "On the GPU, launch the UNet step's kernels directly instead of replaying the step as a CUDA graph (the same video; graphs save a few ms per step)."),
            new OptionSpec("demo", null, "Write a small random-weight pipeline (no download) and make a short video from a built-in image."),
        ],
        Run,
        "--demo needs no other option: the model's weights are random, so the video is noise-like; it shows the whole\n"
        + "pipeline running. For real videos, download the diffusers folder of ali-vilab/i2vgen-xl and pass it as --model.\n"
        + "Output files are written under a temporary name and renamed when complete; Ctrl+C leaves no partial video.");

    private static int Run(ParsedArgs args, CliContext context)
    {
        var device = args.Choice("device", "auto", Backends.Devices);
        var dtype = args.GetGpuDType(allowFp32: true);
        var vaePrecision = args.GetVaePrecision();
        var demo = args.Has("demo");
        var cache = CacheRoot.Resolve(args.Get("cache-dir"));
        string modelPath;
        RgbImage image;
        GenerationOptions options;
        if (demo)
        {
            if (args.Has("model") || args.Has("image"))
            {
                throw new UsageException("--demo makes its own model and image; drop --model and --image.");
            }

            modelPath = DemoModel.Ensure(cache.Path);
            image = DemoModel.Image();
            options = ReadOptions(args, DemoModel.Prompt, DemoModel.NegativePrompt, frames: 4, steps: 3, height: 40, width: 56);
            context.Error.WriteLine($"cudai2v generate: demo model at {modelPath}. Its weights are random, so the video will not look like anything; pass --model with a download of ali-vilab/i2vgen-xl for real videos.");
        }
        else
        {
            modelPath = args.Get("model") ?? throw new UsageException("'generate' needs --model <folder> (or --demo).");
            var imagePath = args.Get("image") ?? throw new UsageException("'generate' needs --image <file> (or --demo).");
            var prompt = args.Get("prompt") ?? throw new UsageException("'generate' needs --prompt <text> (or --demo).");
            image = ImageLoader.Load(imagePath);
            options = ReadOptions(args, prompt, null, frames: 16, steps: 50, height: 704, width: 1280);
        }

        var outPath = args.Get("out", demo ? DemoOut : "video.gif")!;
        VideoWriter.CheckWritable(outPath);
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
            var ops = Backends.Create(device, cache, context.Error, dtype, args.GetAttention());
            var load = Stopwatch.StartNew();
            using var engine = VideoEngineLoader.Load(model, new EngineLoadOptions(cache, variant, line => context.Error.WriteLine($"cudai2v generate: {line}"), ops, vaePrecision));
            engine.UseGraphs = !args.Has("no-cuda-graphs");
            var loadTime = load.Elapsed;
            var bar = ProgressPrinter.ForStandardError(context.Error);
            GenerationResult result;
            try
            {
                result = engine.Generate(image, options, bar, cancellation: cancellation.Token);
            }
            finally
            {
                bar.Finish();
            }

            var compilers = engine.Backends.Select(b => b.Compiler).Where(c => c is not null).Select(c => c!).ToList();
            if (compilers.Count > 0)
            {
                context.Error.WriteLine(
                    $"cudai2v generate: kernels: {compilers.Sum(c => c.Compilations)} compiled by NVRTC, {compilers.Sum(c => c.DiskHits)} read from the cache under {cache.Path}.");
            }

            var write = Stopwatch.StartNew();
            var format = new VideoWriter().Write(outPath, result.Frames, options.Fps, cancellation.Token);
            context.Out.WriteLine(Path.GetFullPath(outPath));
            context.Error.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"cudai2v generate: {result.Frames.Count} frames of {options.Width}x{options.Height}, seed {result.Seed}, {format} written. "
                + $"Load {Seconds(loadTime)}, prompt {Seconds(result.StageTimes[GenerationStage.EncodingPrompt])}, image {Seconds(result.StageTimes[GenerationStage.EncodingImage])}, "
                + $"denoising {Seconds(result.StageTimes[GenerationStage.Denoising])}, decoding {Seconds(result.StageTimes[GenerationStage.Decoding])}, writing {Seconds(write.Elapsed)}."));
            return ExitCodes.Success;
        }
        catch (NonFiniteValuesException e)
        {
            context.Error.WriteLine($"cudai2v generate: {e.Message}");
            return ExitCodes.Failed;
        }
        catch (OperationCanceledException)
        {
            context.Error.WriteLine("cudai2v generate: cancelled; no video was written.");
            return ExitCodes.Failed;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
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
            Seed = args.Has("seed") ? args.GetUInt64("seed") : null,
            DecodeChunk = args.GetInt32("decode-chunk", 1, 1, 1024),
        };
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

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture) + " s";
}
