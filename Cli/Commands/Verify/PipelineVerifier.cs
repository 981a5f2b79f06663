using System.Diagnostics;
using System.Globalization;
using CudaI2V.Loader;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Cli.Commands.Verify;

/// <summary>
/// <c>verify pipeline</c>: one whole generation with the settings, image and initial noise a reference file
/// records (like pipeline-tiny/pipeline-io.safetensors), comparing every stage it recorded: the CLIP pixels and
/// image embedding, the VAE input and moments, the UNet's inputs and output at every step, and the final video.
/// The engine runs on its own values throughout, so errors accumulate as they would in a real run.
/// </summary>
internal sealed class PipelineVerifier : IComponentVerifier
{
    public string Name => "pipeline";

    public string Help =>
        "runs the whole pipeline with the io file's metadata (prompt, negative_prompt, height, width, num_frames,\n"
        + "num_inference_steps, guidance_scale, target_fps, decode_chunk_size), its 'latents.initial' and the\n"
        + "image it names (or --image); compares each recorded stage and the final 'video' in [0, 1].";

    public double DefaultTolerance => 5e-4;

    public void Run(VerifyRun run)
    {
        var io = run.Io;
        var imagePath = run.Args.Get("image") ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(io.Path))!, io.RequireMetadata("image", "the input image's file name"));
        var options = new GenerationOptions
        {
            Prompt = io.RequireMetadata("prompt", "the pipeline setting"),
            NegativePrompt = io.Metadata("negative_prompt"),
            Height = MetadataInt(io, "height"),
            Width = MetadataInt(io, "width"),
            Frames = MetadataInt(io, "num_frames"),
            Steps = MetadataInt(io, "num_inference_steps"),
            Guidance = MetadataDouble(io, "guidance_scale"),
            Fps = MetadataInt(io, "target_fps"),
            DecodeChunk = MetadataInt(io, "decode_chunk_size"),
            VaeEncode = VaeEncodeMode.Mean,
            InitialNoise = io.Require("latents.initial", 5, "(1, latent channels, F, h, w)"),
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            throw new ModelFileException($"{io.Path}: the recorded settings are not usable: {e.Message}", io.Path);
        }

        var image = ImageLoader.Load(imagePath);
        var clock = Stopwatch.StartNew();
        using var engine = VideoEngineLoader.Load(run.Model, new EngineLoadOptions(run.Cache, run.Variant, line => run.Context.Error.WriteLine($"cudai2v verify: {line}"), run.Ops, run.Args.GetVaePrecision()));
        var observer = new Observer(io, run.Report);
        engine.Generate(image, options, observer: observer);
        run.Context.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"cudai2v verify: pipeline on {engine.Ops.Name}: {clock.Elapsed.TotalSeconds:F1} s"));
        if (observer.Steps != options.Steps)
        {
            throw new ModelFileException($"{io.Path} records {observer.Steps} UNet steps; the run made {options.Steps}.", io.Path);
        }
    }

    private static double MetadataDouble(IoFile io, string key) =>
        double.TryParse(io.RequireMetadata(key, "a number"), NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new ModelFileException($"{io.Path}: metadata '{key}' must be a number, found '{io.Metadata(key)}'.", io.Path, key);

    private static int MetadataInt(IoFile io, string key) =>
        int.TryParse(io.RequireMetadata(key, "an integer"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new ModelFileException($"{io.Path}: metadata '{key}' must be an integer, found '{io.Metadata(key)}'.", io.Path, key);

    /// <summary>Compares what the engine computes with what the file recorded, stage by stage.</summary>
    private sealed class Observer(IoFile io, VerifyReport report) : IGenerationObserver
    {
        private static readonly Dictionary<string, string> Recorded = new()
        {
            ["clip.pixels"] = "image_encoder/root::in.0",
            ["image_embeds"] = "image_encoder/root::out.image_embeds",
            ["image_embeddings"] = "unet/root@0::kw.image_embeddings",
            ["vae.pixels"] = "vae/encoder::in.0",
            ["vae.moments"] = "vae/quant_conv::out",
            ["prompt_embeds"] = "unet/root@0::kw.encoder_hidden_states",
            ["image_latents"] = "unet/root@0::kw.image_latents",
            ["video"] = "video",
        };

        public int Steps { get; private set; }

        public void Tensor(string name, Tensor value)
        {
            if (Recorded.TryGetValue(name, out var key) && io.Names.Contains(key))
            {
                report.Add(key, value, io.Require(key, value.Shape, name));
            }
        }

        public void UNetStep(int stepIndex, float timestep, Tensor input, Tensor output)
        {
            Steps = stepIndex + 1;
            var prefix = $"unet/root@{stepIndex}::";
            var recordedT = io.Scalar(prefix + "in.1");
            if (recordedT != timestep)
            {
                throw new ModelFileException($"{io.Path}: step {stepIndex} ran at t={recordedT}; ours at t={timestep} (scheduler config mismatch).", io.Path, prefix + "in.1");
            }

            report.Add(prefix + "in.0", input, io.Require(prefix + "in.0", input.Shape, "the UNet input"));
            report.Add(prefix + "out.0", output, io.Require(prefix + "out.0", output.Shape, "the UNet output"));
        }
    }
}
