namespace CudaI2V.Runtime.Cuda;

/// <summary>The GPU time of one named region, summed over its occurrences.</summary>
/// <param name="Name">The region's name.</param>
/// <param name="Count">How many times it ran.</param>
/// <param name="TotalMilliseconds">Sum of its GPU times.</param>
/// <param name="MinMilliseconds">Shortest occurrence.</param>
/// <param name="MaxMilliseconds">Longest occurrence.</param>
public sealed record ProfileEntry(string Name, int Count, double TotalMilliseconds, double MinMilliseconds, double MaxMilliseconds)
{
    /// <summary>Mean time per occurrence.</summary>
    public double MeanMilliseconds => Count == 0 ? 0 : TotalMilliseconds / Count;
}

/// <summary>
/// Named GPU timing for profiles: <c>using (profiler.Measure("unet", stream)) { ... }</c> records an event before and
/// after the work enqueued in the block; <see cref="Collect"/> waits for the stream, reads every pair and sums them by
/// name. Events are pooled, so measuring in a loop allocates no driver objects after the first round. Timing does
/// not synchronise the host until <see cref="Collect"/>.
/// </summary>
public sealed class EventProfiler : IDisposable
{
    private readonly CudaContext _context;
    private readonly Stack<CudaEvent> _free = new();
    private readonly List<(string Name, CudaEvent Start, CudaEvent End)> _pending = [];
    private readonly List<CudaEvent> _all = [];

    /// <summary>A profiler for work in <paramref name="context"/>.</summary>
    public EventProfiler(CudaContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        _context = context;
    }

    /// <summary>Starts a region on <paramref name="stream"/>; disposing the result ends it.</summary>
    public Region Measure(string name, CudaStream stream)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(stream);
        var start = Rent();
        var end = Rent();
        start.Record(stream);
        _pending.Add((name, start, end));
        return new Region(end, stream);
    }

    /// <summary>Waits for every measured region, then returns them summed by name in first-seen order and forgets them.</summary>
    public IReadOnlyList<ProfileEntry> Collect()
    {
        var entries = new List<ProfileEntry>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (name, start, end) in _pending)
        {
            end.Synchronize();
            double ms = CudaEvent.ElapsedMilliseconds(start, end);
            if (index.TryGetValue(name, out var i))
            {
                var e = entries[i];
                entries[i] = e with
                {
                    Count = e.Count + 1,
                    TotalMilliseconds = e.TotalMilliseconds + ms,
                    MinMilliseconds = Math.Min(e.MinMilliseconds, ms),
                    MaxMilliseconds = Math.Max(e.MaxMilliseconds, ms),
                };
            }
            else
            {
                index[name] = entries.Count;
                entries.Add(new ProfileEntry(name, 1, ms, ms, ms));
            }

            _free.Push(start);
            _free.Push(end);
        }

        _pending.Clear();
        return entries;
    }

    /// <summary>Destroys the pooled events. Never throws.</summary>
    public void Dispose()
    {
        foreach (var e in _all)
        {
            e.Dispose();
        }

        _all.Clear();
        _free.Clear();
        _pending.Clear();
    }

    private CudaEvent Rent()
    {
        if (_free.TryPop(out var e))
        {
            return e;
        }

        e = new CudaEvent(_context, timing: true);
        _all.Add(e);
        return e;
    }

    /// <summary>An open region; disposing records its end.</summary>
    public readonly struct Region : IDisposable
    {
        private readonly CudaEvent _end;
        private readonly CudaStream _stream;

        internal Region(CudaEvent end, CudaStream stream)
        {
            _end = end;
            _stream = stream;
        }

        /// <summary>Records the region's end on its stream.</summary>
        public void Dispose() => _end?.Record(_stream);
    }
}
