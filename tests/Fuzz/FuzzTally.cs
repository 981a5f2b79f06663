using System.Globalization;
using System.Text;

namespace CudaI2V.Tests.Fuzz;

/// <summary>What the fuzzer saw, per family: cases, how many loaded, how many were refused by each exception type, and the cases that broke the contract.</summary>
public sealed class FuzzTally
{
    private readonly SortedDictionary<string, (int Cases, int Loaded, SortedDictionary<string, int> Refused)> _families = new(StringComparer.Ordinal);

    /// <summary>Cases that ended in an exception outside the documented ones: family, case, mutation and exception.</summary>
    public List<string> Unexpected { get; } = [];

    /// <summary>Runs one case: <paramref name="load"/> must return or throw one of <paramref name="documented"/>.</summary>
    public void Run(string family, int index, string what, Action load, params Type[] documented)
    {
        ArgumentNullException.ThrowIfNull(load);
        ArgumentNullException.ThrowIfNull(documented);
        if (!_families.TryGetValue(family, out var entry))
        {
            entry = (0, 0, new SortedDictionary<string, int>(StringComparer.Ordinal));
        }

        entry.Cases++;
        try
        {
            load();
            entry.Loaded++;
        }
        catch (Exception e) when (documented.Contains(e.GetType()))
        {
            entry.Refused[e.GetType().Name] = entry.Refused.GetValueOrDefault(e.GetType().Name) + 1;
        }
#pragma warning disable CA1031 // The fuzzer's point: any other exception is recorded as a failure of the contract.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Unexpected.Add($"{family} case {index} ({what}): {e.GetType().FullName}: {e.Message.Split('\n')[0]}");
        }

        _families[family] = entry;
    }

    /// <summary>One line per family, then the unexpected cases.</summary>
    public string Report(ulong seed)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"fuzz seed {seed}: {_families.Values.Sum(f => f.Cases)} cases, {Unexpected.Count} outside the contract");
        foreach (var (family, f) in _families)
        {
            var refused = string.Join(", ", f.Refused.Select(p => $"{p.Key} {p.Value}"));
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {family}: {f.Cases} cases, {f.Loaded} loaded, refused: {(refused.Length == 0 ? "none" : refused)}");
        }

        foreach (var line in Unexpected.Take(30))
        {
            sb.AppendLine("  UNEXPECTED " + line);
        }

        return sb.ToString();
    }
}
