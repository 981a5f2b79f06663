using System.Globalization;

namespace CudaI2V.Runtime.Memory;

/// <summary>One buffer of an <see cref="ArenaPlan"/>: its name, size and where it lives in the arena.</summary>
/// <param name="Id">Index in the plan.</param>
/// <param name="Name">What it holds, for reports ("down_blocks.0.resnets.0.conv1.out").</param>
/// <param name="Bytes">Size requested.</param>
/// <param name="FirstUse">The step at which it is written first.</param>
/// <param name="LastUse">The step at which it is read last.</param>
/// <param name="Offset">Byte offset in the arena (aligned), set by <see cref="ArenaPlan.Pack"/>.</param>
public sealed record ArenaBuffer(int Id, string Name, long Bytes, int FirstUse, int LastUse, long Offset);

/// <summary>
/// A planning pass over one forward or one request: every buffer is recorded with its size and lifetime (the
/// steps between its first write and last read), then <see cref="Pack"/> gives each an offset so that buffers
/// alive at the same time never overlap and buffers that are not reuse the same bytes. The arena is then one
/// allocation of <see cref="Peak"/> bytes, and running the planned work allocates nothing.
/// </summary>
/// <remarks>
/// Packing is the usual greedy offset assignment: largest buffers first (ties by earlier first use), each at the
/// lowest aligned offset where it does not collide with an already placed buffer whose lifetime overlaps its
/// own. It is not optimal in general, but it is deterministic, fast, and never worse than the sum of sizes.
/// </remarks>
public sealed class ArenaPlan
{
    /// <summary>Alignment of every buffer: 256 bytes, what cudaMalloc guarantees and vector loads want.</summary>
    public const long Alignment = 256;

    private readonly List<ArenaBuffer> _buffers = [];
    private bool _packed;

    /// <summary>The buffers, in the order they were recorded (offsets valid after <see cref="Pack"/>).</summary>
    public IReadOnlyList<ArenaBuffer> Buffers => _buffers;

    /// <summary>Bytes the arena needs: the end of the highest buffer (after <see cref="Pack"/>).</summary>
    public long Peak { get; private set; }

    /// <summary>The largest total of buffers alive at one step: no packing can use less.</summary>
    public long LiveLowerBound { get; private set; }

    /// <summary>Records a buffer of <paramref name="bytes"/> alive from <paramref name="firstUse"/> to <paramref name="lastUse"/> (inclusive); returns its id.</summary>
    public int Add(string name, long bytes, int firstUse, int lastUse)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        ArgumentOutOfRangeException.ThrowIfNegative(firstUse);
        if (lastUse < firstUse)
        {
            throw new ArgumentException($"Buffer '{name}' is read last at step {lastUse}, before it is written at step {firstUse}.", nameof(lastUse));
        }

        if (_packed)
        {
            throw new InvalidOperationException("The plan is already packed; record every buffer first.");
        }

        _buffers.Add(new ArenaBuffer(_buffers.Count, name, bytes, firstUse, lastUse, -1));
        return _buffers.Count - 1;
    }

    /// <summary>Assigns every buffer its offset; returns <see cref="Peak"/>.</summary>
    public long Pack()
    {
        var placed = new List<ArenaBuffer>();
        foreach (var buffer in _buffers.OrderByDescending(b => Align(b.Bytes)).ThenBy(b => b.FirstUse).ThenBy(b => b.Id))
        {
            var size = Align(buffer.Bytes);
            var conflicts = placed
                .Where(p => p.FirstUse <= buffer.LastUse && buffer.FirstUse <= p.LastUse)
                .OrderBy(p => p.Offset)
                .ToList();
            long offset = 0;
            foreach (var other in conflicts)
            {
                if (offset + size <= other.Offset)
                {
                    break;
                }

                offset = Math.Max(offset, other.Offset + Align(other.Bytes));
            }

            var result = buffer with { Offset = offset };
            placed.Add(result);
            _buffers[buffer.Id] = result;
        }

        Peak = _buffers.Count == 0 ? 0 : _buffers.Max(b => b.Offset + Align(b.Bytes));
        LiveLowerBound = LowerBound();
        _packed = true;
        return Peak;
    }

    /// <summary>The offset of buffer <paramref name="id"/>.</summary>
    public long OffsetOf(int id)
    {
        if (!_packed)
        {
            throw new InvalidOperationException("Pack the plan before asking for offsets.");
        }

        return _buffers[id].Offset;
    }

    /// <summary>A human summary: peak, lower bound, buffer count and the largest buffers.</summary>
    public string Describe(int largest = 5)
    {
        var biggest = string.Join(", ", _buffers.OrderByDescending(b => b.Bytes).Take(largest).Select(b => $"{b.Name} {FormatBytes(b.Bytes)}"));
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{_buffers.Count} buffers, planned peak {FormatBytes(Peak)} (live lower bound {FormatBytes(LiveLowerBound)}); largest: {biggest}");
    }

    /// <summary>Bytes as "1.50 GiB", "12.0 MiB", "512 B".</summary>
    public static string FormatBytes(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("F2", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("F1", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (bytes / (double)(1L << 10)).ToString("F1", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };

    private static long Align(long bytes) => (bytes + Alignment - 1) / Alignment * Alignment;

    private long LowerBound()
    {
        if (_buffers.Count == 0)
        {
            return 0;
        }

        var last = _buffers.Max(b => b.LastUse);
        var live = new long[last + 2];
        foreach (var b in _buffers)
        {
            live[b.FirstUse] += Align(b.Bytes);
            live[b.LastUse + 1] -= Align(b.Bytes);
        }

        long current = 0, max = 0;
        foreach (var delta in live)
        {
            current += delta;
            max = Math.Max(max, current);
        }

        return max;
    }
}
