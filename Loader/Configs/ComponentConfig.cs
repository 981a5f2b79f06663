namespace CudaI2V.Loader.Configs;

/// <summary>What every parsed component config carries besides its typed fields.</summary>
public abstract class ComponentConfig
{
    private protected ComponentConfig(ConfigReader reader, string? className)
    {
        Path = reader.Path;
        ClassName = className;
        KnownKeys = reader;
    }

    // Held only until the derived constructor has read its fields.
    private protected ConfigReader? KnownKeys { get; private set; }

    /// <summary>The file it was read from.</summary>
    public string Path { get; }

    /// <summary>The class the file names (<c>_class_name</c> or <c>architectures[0]</c>), when it names one.</summary>
    public string? ClassName { get; }

    /// <summary>Keys of the file that CudaI2V does not know, with their raw JSON values: kept and reported.</summary>
    public IReadOnlyDictionary<string, string> UnknownKeys { get; private set; } = new Dictionary<string, string>();

    /// <summary>Things worth telling the user about how the file was read (for example a fallback key).</summary>
    public IReadOnlyList<string> Notes { get; private protected set; } = [];

    /// <summary>Called last by each derived constructor: records the keys nothing read.</summary>
    private protected void Finish()
    {
        UnknownKeys = KnownKeys!.UnknownKeys();
        KnownKeys = null;
    }

    /// <summary>The config's main values as (name, value) text pairs, for <c>cudai2v inspect</c>.</summary>
    public abstract IEnumerable<(string Name, string Value)> Summary();

    private protected static string List<T>(IEnumerable<T> values) => "[" + string.Join(", ", values) + "]";
}
