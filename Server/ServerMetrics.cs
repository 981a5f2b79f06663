using System.Globalization;
using System.Text;
using CudaI2V.Kernels;
using CudaI2V.Server.Jobs;

namespace CudaI2V.Server;

/// <summary>
/// The server's counters, written in the Prometheus text format at <c>/metrics</c>: the queue's length and
/// capacity, jobs by state, jobs finished since the start, refused submissions, the denoising step time (a summary:
/// sum and count) and the engine's free device memory.
/// </summary>
public sealed class ServerMetrics
{
    private readonly Lock _lock = new();
    private readonly Dictionary<JobState, long> _finished = [];
    private double _stepSeconds;
    private long _steps;
    private long _refused;

    /// <summary>Counts a denoising step of <paramref name="duration"/>.</summary>
    public void Step(TimeSpan duration)
    {
        lock (_lock)
        {
            _stepSeconds += duration.TotalSeconds;
            _steps++;
        }
    }

    /// <summary>Counts a job that ended in <paramref name="state"/>.</summary>
    public void Finished(JobState state)
    {
        lock (_lock)
        {
            _finished[state] = _finished.GetValueOrDefault(state) + 1;
        }
    }

    /// <summary>Counts a submission refused because the queue was full.</summary>
    public void Refused()
    {
        lock (_lock)
        {
            _refused++;
        }
    }

    /// <summary>The metrics as Prometheus text (version 0.0.4); <paramref name="ops"/> is null while the engine loads.</summary>
    public string Render(IJobBroker jobs, IOps? ops)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        var sb = new StringBuilder();
        void Metric(string name, string type, string help, IEnumerable<(string Labels, double Value)> samples)
        {
            sb.Append("# HELP ").Append(name).Append(' ').AppendLine(help);
            sb.Append("# TYPE ").Append(name).Append(' ').AppendLine(type);
            foreach (var (labels, value) in samples)
            {
                sb.Append(name).Append(labels).Append(' ').AppendLine(value.ToString("R", CultureInfo.InvariantCulture));
            }
        }

        var byState = jobs.CountByState();
        lock (_lock)
        {
            Metric("cudai2v_queue_length", "gauge", "Jobs waiting in the queue.", [("", jobs.QueueLength)]);
            Metric("cudai2v_queue_capacity", "gauge", "The most jobs that may wait before submissions are refused.", [("", jobs.Capacity)]);
            Metric("cudai2v_jobs", "gauge", "Jobs known to the server, by state.", byState.Select(kv => ($"{{state=\"{Name(kv.Key)}\"}}", (double)kv.Value)));
            Metric("cudai2v_jobs_finished_total", "counter", "Jobs that ended since the server started, by state.", Enum.GetValues<JobState>().Where(s => s is JobState.Succeeded or JobState.Failed or JobState.Canceled).Select(s => ($"{{state=\"{Name(s)}\"}}", (double)_finished.GetValueOrDefault(s))));
            Metric("cudai2v_submissions_refused_total", "counter", "Submissions refused with 503 because the queue was full.", [("", _refused)]);
            Metric("cudai2v_step_seconds", "summary", "Time of one denoising step.", [("_sum", _stepSeconds), ("_count", _steps)]);
        }

        foreach (var gauge in jobs.Gauges())
        {
            Metric(gauge.Name, "gauge", gauge.Help, [("", gauge.Value)]);
        }

        if (ops is not null)
        {
            var where = ops.Memory.Description.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
            Metric("cudai2v_device_memory_available_bytes", "gauge", "Memory the engine's backend can still allocate.", [($"{{device=\"{where}\"}}", ops.Memory.AvailableBytes)]);
        }

        return sb.ToString();
    }

    private static string Name(JobState state) => state.ToString().ToLowerInvariant();
}
