using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using CudaI2V.Loader;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.Output;
using CudaI2V.Runtime.Caching;

namespace CudaI2V.Cli.Commands;

/// <summary>What made one video, written beside it (<see cref="RunMetadata.PathFor"/>).</summary>
/// <param name="Options">Every setting, with the seed that was used.</param>
/// <param name="Image">The input image's full path; null for the demo image.</param>
/// <param name="Output">The video's full path.</param>
/// <param name="Format">How it was written.</param>
/// <param name="Load">The time the engine took to load (shared by a batch's videos).</param>
/// <param name="Stages">The time of each stage.</param>
/// <param name="Writing">The time writing the video took.</param>
internal sealed record RunRecord(
    GenerationOptions Options, string? Image, string Output, VideoFormat Format, TimeSpan Load, IReadOnlyDictionary<GenerationStage, TimeSpan> Stages, TimeSpan Writing)
{
    /// <summary>The denoising steps that ran the whole UNet (the others were cached steps).</summary>
    public IReadOnlyList<int> FullSteps { get; init; } = [];

    /// <summary>Denoising steps run (with a refine, both passes').</summary>
    public int DenoisingSteps { get; init; }

    /// <summary>The steps a refine ran again at the requested size.</summary>
    public int RefineSteps { get; init; }

    /// <summary>The memory plan the run used.</summary>
    public Pipeline.MemoryPlanning.MemoryPlan? Memory { get; init; }
}

/// <summary>What a whole run shares: the engine, its model folder and the hash of every weight file it loaded.</summary>
/// <param name="ModelFolder">The model folder's full path.</param>
/// <param name="Weights">Each weight file the engine loaded (relative to the model folder) and its SHA-256.</param>
/// <param name="Engine">The engine: its backends and whether steps replay graphs.</param>
internal sealed record RunModel(string ModelFolder, IReadOnlyList<(string File, string Sha256)> Weights, VideoEngine Engine)
{
    /// <summary>Hashes the engine's weight files (remembered under the cache root, so only a new file is read).</summary>
    public static RunModel Of(string modelFolder, VideoEngine engine, CacheRoot cache)
    {
        var root = Path.GetFullPath(modelFolder);
        var weights = engine.WeightFiles.Select(Path.GetFullPath).Select(f => (Path.GetRelativePath(root, f).Replace('\\', '/'), FileContentHash.Sha256(f, cache))).ToList();
        return new RunModel(root, weights, engine);
    }

    /// <summary>One SHA-256 over every weight file's path and hash (in path order): equal only for the same weights.</summary>
    public string WeightsSha256 =>
        FileContentHash.Hex(SHA256.HashData(Encoding.UTF8.GetBytes(string.Concat(Weights.OrderBy(w => w.File, StringComparer.Ordinal).Select(w => $"{w.File} {w.Sha256}\n")))));
}

/// <summary>
/// The JSON file beside each output, named after it: <c>d.gif</c> has <c>d.json</c>; a folder of PNG frames has it inside
/// (<c>frames/frames.json</c>). Top level: every setting of <see cref="GenerationOptions"/> in snake case (a lower-case
/// <c>"seed"</c> among them, the one used), then the image, the output, the model (folder and weight hashes), the device,
/// the timings in seconds and the tool's version.
/// </summary>
internal static class RunMetadata
{
    /// <summary>Where the metadata of <paramref name="output"/> goes.</summary>
    public static string PathFor(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var full = Path.GetFullPath(output);
        if (VideoWriter.FormatOf(output) == VideoFormat.PngFrames)
        {
            var folder = full.TrimEnd(Path.DirectorySeparatorChar, '/');
            return Path.Combine(folder, Path.GetFileName(folder) + ".json");
        }

        return Path.ChangeExtension(full, ".json");
    }

    /// <summary>Writes the metadata of one video (under a temporary name, then renamed); returns its path.</summary>
    public static string Write(RunRecord record, RunModel model)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(model);
        var path = PathFor(record.Output);
        var temporary = path + ".partial";
        using (var stream = File.Create(temporary))
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            WriteTo(json, record, model);
        }

        File.Move(temporary, path, overwrite: true);
        return path;
    }

    /// <summary>The metadata as JSON.</summary>
    public static void WriteTo(Utf8JsonWriter json, RunRecord record, RunModel model)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(model);
        json.WriteStartObject();
        foreach (var setting in JsonSerializer.SerializeToElement(record.Options, MetadataJson.Default.GenerationOptions).EnumerateObject())
        {
            setting.WriteTo(json);
        }

        json.WriteStartObject("denoising");
        json.WriteNumber("steps", record.DenoisingSteps);
        json.WriteNumber("refine_steps", record.RefineSteps);
        json.WriteNumber("cached_steps", record.DenoisingSteps - record.FullSteps.Count);
        json.WriteStartArray("full_steps");
        foreach (var step in record.FullSteps)
        {
            json.WriteNumberValue(step);
        }

        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteString("image", record.Image ?? "demo");
        json.WriteString("output", record.Output);
        json.WriteString("format", record.Format switch { VideoFormat.Gif => "gif", VideoFormat.Mp4 => "mp4", _ => "png-frames" });

        json.WriteStartObject("model");
        json.WriteString("folder", model.ModelFolder);
        json.WriteString("weights_sha256", model.WeightsSha256);
        json.WriteStartArray("weights");
        foreach (var (file, sha256) in model.Weights)
        {
            json.WriteStartObject();
            json.WriteString("file", file);
            json.WriteString("sha256", sha256);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();

        var engine = model.Engine;
        json.WriteStartObject("device");
        json.WriteString("backend", engine.Ops.Name);
        json.WriteString("memory", engine.Ops.Memory.Description);
        json.WriteString("dtype", engine.Ops.ActivationDType.ToString());
        json.WriteString("vae_dtype", engine.Backends[^1].ActivationDType.ToString());
        json.WriteBoolean("graphs", engine.UseGraphs);
        if (record.Memory is { } memory)
        {
            json.WriteNumber("planned_peak_bytes", memory.Peak);
            json.WriteString("memory_plan", memory.Describe());
        }

        json.WriteEndObject();

        json.WriteStartObject("seconds");
        json.WriteNumber("load", Math.Round(record.Load.TotalSeconds, 3));
        foreach (var (stage, time) in record.Stages.OrderBy(s => s.Key))
        {
            json.WriteNumber(StageKey(stage), Math.Round(time.TotalSeconds, 3));
        }

        json.WriteNumber("writing", Math.Round(record.Writing.TotalSeconds, 3));
        json.WriteEndObject();

        json.WriteString("version", CliApp.Version);
        json.WriteString("created", DateTimeOffset.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        json.WriteEndObject();
    }

    private static string StageKey(GenerationStage stage) => stage switch
    {
        GenerationStage.EncodingPrompt => "prompt",
        GenerationStage.EncodingImage => "image",
        GenerationStage.Denoising => "denoising",
        GenerationStage.Decoding => "decoding",
        _ => stage.ToString().ToLowerInvariant(),
    };
}

/// <summary>The settings' JSON, generated at build time (the tool is trimmed and AOT-compiled).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, UseStringEnumConverter = true)]
[JsonSerializable(typeof(GenerationOptions))]
internal sealed partial class MetadataJson : JsonSerializerContext;
