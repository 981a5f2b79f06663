using System.Text.Json;

namespace CudaI2V.Server.Jobs;

/// <summary>
/// The jobs' files under the data folder: <c>jobs/&lt;id&gt;/job.json</c> (the record), <c>input</c> (the uploaded
/// image as sent) and <c>out/</c> (the frames and videos). Every name is the server's own: an id is 32 hex digits,
/// checked before it becomes a path. Records are written under a temporary name and renamed, so a crash leaves the
/// old record or the new one, never half of one.
/// </summary>
public sealed class JobStore
{
    private readonly string _jobs;

    /// <summary>Opens (and creates when missing) the data folder <paramref name="dataFolder"/>.</summary>
    public JobStore(string dataFolder)
    {
        ArgumentException.ThrowIfNullOrEmpty(dataFolder);
        Root = Path.GetFullPath(dataFolder);
        _jobs = Path.Combine(Root, "jobs");
        Directory.CreateDirectory(_jobs);
    }

    /// <summary>The data folder.</summary>
    public string Root { get; }

    /// <summary>True when <paramref name="id"/> has the form of a job id (32 lower-case hex digits).</summary>
    public static bool IsId(string? id) => id is { Length: 32 } && id.All(char.IsAsciiHexDigitLower);

    /// <summary>A new job id.</summary>
    public static string NewId() => Guid.NewGuid().ToString("N");

    /// <summary>The folder of job <paramref name="id"/>.</summary>
    public string Folder(string id) => IsId(id) ? Path.Combine(_jobs, id) : throw new ArgumentException($"'{id}' is not a job id.", nameof(id));

    /// <summary>The uploaded image of job <paramref name="id"/>.</summary>
    public string InputPath(string id) => Path.Combine(Folder(id), "input");

    /// <summary>The output folder of job <paramref name="id"/>.</summary>
    public string OutputFolder(string id) => Path.Combine(Folder(id), "out");

    /// <summary>Creates job <paramref name="job"/>'s folder with its input image and record.</summary>
    public void Create(Job job, ReadOnlySpan<byte> image)
    {
        ArgumentNullException.ThrowIfNull(job);
        Directory.CreateDirectory(Folder(job.Id));
        var input = InputPath(job.Id);
        File.WriteAllBytes(input + ".partial", image.ToArray());
        File.Move(input + ".partial", input, overwrite: true);
        Save(job);
    }

    /// <summary>Writes <paramref name="job"/>'s record.</summary>
    public void Save(Job job)
    {
        ArgumentNullException.ThrowIfNull(job);
        var path = Path.Combine(Folder(job.Id), "job.json");
        var temporary = path + ".partial";
        File.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(job, ServerJson.Default.Job));
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Removes what job <paramref name="id"/> produced (a canceled or failed job keeps no output).</summary>
    public void DeleteOutputs(string id)
    {
        var folder = OutputFolder(id);
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>The record of job <paramref name="id"/>, or null when there is none (or it cannot be read).</summary>
    public Job? Load(string id)
    {
        var path = Path.Combine(Folder(id), "job.json");
        try
        {
            var job = JsonSerializer.Deserialize(File.ReadAllBytes(path), ServerJson.Default.Job);
            return job?.Id == id ? job : null;
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Removes job <paramref name="id"/>'s folder: its record, input and outputs (its retention ended).</summary>
    public void Delete(string id)
    {
        var folder = Folder(id);
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Every job record in the folder, oldest first; unreadable records are reported to <paramref name="log"/> and skipped.</summary>
    public List<Job> LoadAll(Action<string>? log = null)
    {
        var jobs = new List<Job>();
        foreach (var folder in Directory.GetDirectories(_jobs))
        {
            var path = Path.Combine(folder, "job.json");
            if (!IsId(Path.GetFileName(folder)) || !File.Exists(path))
            {
                continue;
            }

            try
            {
                var job = JsonSerializer.Deserialize(File.ReadAllBytes(path), ServerJson.Default.Job);
                if (job is not null && job.Id == Path.GetFileName(folder))
                {
                    jobs.Add(job);
                }
            }
            catch (JsonException e)
            {
                log?.Invoke($"skipping the unreadable job record {path}: {e.Message}");
            }
        }

        return [.. jobs.OrderBy(j => j.CreatedAt).ThenBy(j => j.Id, StringComparer.Ordinal)];
    }
}
