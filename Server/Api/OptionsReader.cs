using System.Security.Cryptography;
using System.Text.Json;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.Scheduling;
using CudaI2V.Server.Jobs;

namespace CudaI2V.Server.Api;

/// <summary>
/// Reads the <c>options</c> field of a submission: a JSON object with <c>GenerationOptions</c>' names in camelCase.
/// Every value is checked as the CLI checks it, and against the server's limits; a wrong one is a 400 naming the
/// field (<c>options.frames</c>). Unknown names are refused too, so a misspelt option never silently takes its default.
/// </summary>
public static class OptionsReader
{
    /// <summary>The names an options object may hold.</summary>
    public static readonly string[] Names = ["prompt", "negativePrompt", "frames", "steps", "guidance", "fps", "height", "width", "seed", "decodeChunk", "eta", "sampler", "preset", "cacheInterval", "cacheDepth"];

    /// <summary>The settings of <paramref name="json"/>, defaults from <paramref name="settings"/> filled in and a seed drawn when none is given.</summary>
    public static JobSettings Read(string? json, ServeSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (string.IsNullOrWhiteSpace(json))
        {
            throw ApiProblemException.Invalid("options", "The form field 'options' is missing: send a JSON object with at least a prompt, such as {\"prompt\": \"a cat\"}.");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw ApiProblemException.Invalid("options", $"The form field 'options' is not valid JSON: {e.Message}");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw ApiProblemException.Invalid("options", $"The form field 'options' must be a JSON object, got {root.ValueKind.ToString().ToLowerInvariant()}.");
            }

            foreach (var property in root.EnumerateObject())
            {
                if (!Names.Contains(property.Name, StringComparer.Ordinal))
                {
                    throw ApiProblemException.Invalid($"options.{property.Name}", $"Unknown option '{property.Name}'. Options: {string.Join(", ", Names)}.");
                }
            }

            var d = settings.Defaults;
            var prompt = String(root, "prompt") ?? throw ApiProblemException.Invalid("options.prompt", "The prompt is missing; say what the video should show.");
            if (prompt.Trim().Length == 0)
            {
                throw ApiProblemException.Invalid("options.prompt", "The prompt is empty; say what the video should show.");
            }

            var height = Int(root, "height", d.Height, 8, settings.MaxVideoSide);
            var width = Int(root, "width", d.Width, 8, settings.MaxVideoSide);
            MultipleOf8("height", height);
            MultipleOf8("width", width);
            var preset = Preset(root, settings);
            return new JobSettings
            {
                Prompt = Limit("prompt", prompt),
                NegativePrompt = Limit("negativePrompt", String(root, "negativePrompt") ?? ""),
                Frames = Int(root, "frames", d.Frames, 1, settings.MaxFrames),
                Steps = Int(root, "steps", preset?.Steps ?? d.Steps, 1, settings.MaxSteps),
                Guidance = Number(root, "guidance", preset?.Guidance ?? d.Guidance, 0, 100),
                Fps = Int(root, "fps", d.Fps, 1, 240),
                Height = height,
                Width = width,
                Seed = Seed(root),
                DecodeChunk = Int(root, "decodeChunk", 1, 1, 1024),
                Eta = (float)Number(root, "eta", 0, 0, 1),
                Sampler = Sampler(root) ?? preset?.Sampler,
                Preset = preset?.Name,
                CacheInterval = Int(root, "cacheInterval", preset?.CacheInterval ?? 1, 1, 1000),
                CacheDepth = root.TryGetProperty("cacheDepth", out var depth) && depth.ValueKind != JsonValueKind.Null ? Int(root, "cacheDepth", 0, 0, 16) : null,
            };
        }
    }

    private static string? String(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw ApiProblemException.Invalid($"options.{name}", $"{name} must be a string, got {value.ValueKind.ToString().ToLowerInvariant()}.");
    }

    private static string Limit(string name, string text) =>
        text.Length <= 2000 ? text : throw ApiProblemException.Invalid($"options.{name}", $"{name} is {text.Length} characters long; at most 2000 are accepted (the text encoder reads 77 tokens).");

    private static int Int(JsonElement root, string name, int fallback, int min, int max)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return fallback;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var result) || result < min || result > max)
        {
            throw ApiProblemException.Invalid($"options.{name}", $"{name} must be an integer from {min} to {max}, got {value.GetRawText()}.");
        }

        return result;
    }

    private static double Number(JsonElement root, string name, double fallback, double min, double max)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return fallback;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var result) || !(result >= min && result <= max))
        {
            throw ApiProblemException.Invalid($"options.{name}", $"{name} must be a number from {min} to {max}, got {value.GetRawText()}.");
        }

        return result;
    }

    private static ulong Seed(JsonElement root)
    {
        if (!root.TryGetProperty("seed", out var value) || value.ValueKind == JsonValueKind.Null)
        {
            // Drawn now rather than by the engine, so that the record says the seed before the job runs and a job
            // requeued by a restart makes the same video.
            return BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8)) >> 11;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetUInt64(out var seed))
        {
            throw ApiProblemException.Invalid("options.seed", $"seed must be an integer from 0 to {ulong.MaxValue}, got {value.GetRawText()}.");
        }

        return seed;
    }

    private static string? Sampler(JsonElement root)
    {
        var name = String(root, "sampler");
        return name is null || Samplers.Names.Contains(name, StringComparer.Ordinal)
            ? name
            : throw ApiProblemException.Invalid("options.sampler", $"sampler must be one of {string.Join(", ", Samplers.Names)}, got '{name}'.");
    }

    /// <summary>
    /// The <c>preset</c> (release, fast, draft: <see cref="GenerationPreset"/>), whose sampler, steps and guidance fill in
    /// those the options do not give, as <c>generate --preset</c> does; refused when its steps exceed the server's limit.
    /// </summary>
    private static GenerationPreset? Preset(JsonElement root, ServeSettings settings)
    {
        var name = String(root, "preset");
        if (name is null)
        {
            return null;
        }

        var preset = GenerationPreset.Find(name)
            ?? throw ApiProblemException.Invalid("options.preset", $"preset must be one of {string.Join(", ", GenerationPreset.Names)}, got '{name}'.");
        return preset.Steps <= settings.MaxSteps || root.TryGetProperty("steps", out _)
            ? preset
            : throw ApiProblemException.Invalid("options.preset", $"The {preset.Name} preset runs {preset.Steps} steps; this server allows at most {settings.MaxSteps}. Give \"steps\" too, or another preset.");
    }

    private static void MultipleOf8(string name, int value)
    {
        if (value % 8 != 0)
        {
            throw ApiProblemException.Invalid($"options.{name}", $"{name} must be a multiple of 8, got {value}.");
        }
    }
}
