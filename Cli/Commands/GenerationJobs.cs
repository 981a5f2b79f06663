using System.Globalization;
using System.Text.Json;
using CudaI2V.Pipeline.Engine;

namespace CudaI2V.Cli.Commands;

/// <summary>One video of a <c>generate</c> run: its settings, its input image (null for the demo's) and where it is written.</summary>
/// <param name="Options">The settings (the seed null when it is drawn at random).</param>
/// <param name="ImagePath">The first frame's image file; null for the demo image.</param>
/// <param name="Out">The output path.</param>
internal sealed record GenerationJob(GenerationOptions Options, string? ImagePath, string Out);

/// <summary>
/// The videos one <c>generate</c> run makes on one loaded engine: from the command line (several <c>--prompt</c>,
/// several <c>--seed</c>, <c>--count</c>) or from a JSON Lines file of requests (<c>--batch</c>). With more than one
/// video, the outputs are numbered: <c>d.gif</c> becomes <c>d-1.gif</c>, <c>d-2.gif</c>, ...
/// </summary>
internal static class GenerationJobs
{
    /// <summary>The fields a line of a <c>--batch</c> file may set; the others come from the command line.</summary>
    public static readonly string[] BatchFields = ["prompt", "negative_prompt", "seed", "image", "out", "frames", "steps", "guidance", "fps", "height", "width", "decode_chunk"];

    /// <summary>
    /// Each prompt makes <paramref name="count"/> videos (the number of seeds when several are given, else 1). Seeds: none,
    /// a random seed per video; one, that seed for a prompt's first video and the next integers for the others; else
    /// one per video of a prompt.
    /// </summary>
    public static IReadOnlyList<GenerationJob> FromCommandLine(
        GenerationOptions template, IReadOnlyList<string> prompts, IReadOnlyList<ulong> seeds, int? count, string? image, string outPath)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(seeds);
        var perPrompt = count ?? Math.Max(1, seeds.Count);
        if (seeds.Count > 1 && seeds.Count != perPrompt)
        {
            throw new UsageException(
                $"--seed is given {seeds.Count} times but each prompt makes {perPrompt} video(s) (--count {perPrompt}); give one seed "
                + "(the videos then take seed, seed+1, ...) or one seed per video.");
        }

        var total = prompts.Count * perPrompt;
        var jobs = new List<GenerationJob>(total);
        foreach (var prompt in prompts)
        {
            for (var i = 0; i < perPrompt; i++)
            {
                ulong? seed = seeds.Count switch
                {
                    0 => null,
                    1 => unchecked(seeds[0] + (ulong)i),
                    _ => seeds[i],
                };
                var options = Checked(template with { Prompt = prompt, Seed = seed }, "");
                jobs.Add(new GenerationJob(options, image, total == 1 ? outPath : Numbered(outPath, jobs.Count + 1)));
            }
        }

        return jobs;
    }

    /// <summary>
    /// One video per non-empty line of <paramref name="file"/>, each a JSON object of <see cref="BatchFields"/> that
    /// override <paramref name="template"/>; an <c>"image"</c> or <c>"out"</c> path is relative to the current folder.
    /// With <paramref name="promptRequired"/>, every line must have its <c>"prompt"</c>.
    /// </summary>
    public static IReadOnlyList<GenerationJob> FromJsonLines(string file, GenerationOptions template, string? image, string outPath, bool promptRequired)
    {
        ArgumentNullException.ThrowIfNull(template);
        string[] lines;
        try
        {
            lines = File.ReadAllLines(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--batch: cannot read {file}: {e.Message}");
        }

        var requests = lines.Select((text, index) => (Text: text, Line: index + 1)).Where(l => l.Text.Trim().Length > 0).ToList();
        if (requests.Count == 0)
        {
            throw new UsageException($"--batch: {file} holds no request; write one JSON object per line, such as {{\"prompt\": \"a cat\", \"seed\": 1}}.");
        }

        var jobs = new List<GenerationJob>();
        foreach (var (text, line) in requests)
        {
            var where = $"--batch: {file} line {line}: ";
            try
            {
                using var document = JsonDocument.Parse(text);
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                {
                    throw new UsageException(where + "expected a JSON object such as {\"prompt\": \"a cat\"}.");
                }

                var (options, jobImage, jobOut) = (template, image, (string?)null);
                foreach (var field in document.RootElement.EnumerateObject())
                {
                    var v = field.Value;
                    options = field.Name switch
                    {
                        "prompt" => options with { Prompt = v.GetString() ?? "" },
                        "negative_prompt" => options with { NegativePrompt = v.GetString() },
                        "seed" => options with { Seed = v.GetUInt64() },
                        "frames" => options with { Frames = v.GetInt32() },
                        "steps" => options with { Steps = v.GetInt32() },
                        "guidance" => options with { Guidance = v.GetDouble() },
                        "fps" => options with { Fps = v.GetInt32() },
                        "height" => options with { Height = v.GetInt32() },
                        "width" => options with { Width = v.GetInt32() },
                        "decode_chunk" => options with { DecodeChunk = v.GetInt32() },
                        "image" or "out" => options,
                        _ => throw new UsageException($"{where}unknown field '{field.Name}'; the fields are {string.Join(", ", BatchFields)}."),
                    };
                    jobImage = field.Name == "image" ? v.GetString() : jobImage;
                    jobOut = field.Name == "out" ? v.GetString() : jobOut;
                }

                if (promptRequired && !document.RootElement.TryGetProperty("prompt", out _))
                {
                    throw new UsageException(where + "no \"prompt\"; every request needs one.");
                }

                jobs.Add(new GenerationJob(Checked(options, where), jobImage, jobOut ?? (requests.Count == 1 ? outPath : Numbered(outPath, jobs.Count + 1))));
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
            {
                throw new UsageException($"{where}{e.Message}");
            }
        }

        return jobs;
    }

    /// <summary>The <paramref name="number"/>th of several outputs: <c>d.gif</c> to <c>d-2.gif</c>, <c>frames/</c> to <c>frames-2/</c>.</summary>
    public static string Numbered(string path, int number)
    {
        ArgumentNullException.ThrowIfNull(path);
        var folder = path.EndsWith('/') || path.EndsWith(Path.DirectorySeparatorChar);
        var trimmed = folder ? path.TrimEnd('/', Path.DirectorySeparatorChar) : path;
        var extension = folder ? "" : Path.GetExtension(trimmed);
        var stem = trimmed[..^extension.Length];
        return string.Create(CultureInfo.InvariantCulture, $"{stem}-{number}{extension}") + (folder ? "/" : "");
    }

    private static GenerationOptions Checked(GenerationOptions options, string where)
    {
        try
        {
            options.Validate();
            return options;
        }
        catch (ArgumentException e)
        {
            var message = e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
            throw new UsageException(where + message);
        }
    }
}
