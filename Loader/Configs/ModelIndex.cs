using System.Text.Json;

namespace CudaI2V.Loader.Configs;

/// <summary>One entry of <c>model_index.json</c>: the library and class of a component.</summary>
public sealed record ComponentEntry(string Name, string Library, string ClassName);

/// <summary>
/// <c>model_index.json</c> of a diffusers pipeline folder: the pipeline class and, for each component, its
/// [library, class] pair. Entries written as [null, null] (a component the pipeline was saved without) are
/// absent.
/// </summary>
public sealed class ModelIndex : ComponentConfig
{
    private ModelIndex(ConfigReader r, JsonElement root)
        : base(r, r.OptionalString("_class_name"))
    {
        DiffusersVersion = r.OptionalString("_diffusers_version");
        r.Known("_name_or_path");
        var components = new List<ComponentEntry>();
        foreach (var property in root.EnumerateObject().Where(p => !p.Name.StartsWith('_')))
        {
            var value = r.Raw(property.Name);
            if (value is not { ValueKind: JsonValueKind.Array } pair || pair.GetArrayLength() != 2)
            {
                continue;
            }

            if (pair[0].ValueKind == JsonValueKind.Null && pair[1].ValueKind == JsonValueKind.Null)
            {
                continue;
            }

            if (pair[0].ValueKind != JsonValueKind.String || pair[1].ValueKind != JsonValueKind.String)
            {
                throw new ModelFileException(
                    $"{r.Path}: component '{property.Name}' must be [library, class], found {pair.GetRawText()}.", r.Path, property.Name);
            }

            components.Add(new ComponentEntry(property.Name, pair[0].GetString()!, pair[1].GetString()!));
        }

        Components = components;
        Finish();
    }

    /// <summary>The diffusers version that wrote the folder.</summary>
    public string? DiffusersVersion { get; }

    /// <summary>The components present, in file order.</summary>
    public IReadOnlyList<ComponentEntry> Components { get; }

    /// <summary>Reads <paramref name="path"/>.</summary>
    public static ModelIndex Load(string path)
    {
        var reader = ConfigReader.Load(path);
        using var document = ConfigReader.ParseFile(path);
        return new ModelIndex(reader, document.RootElement);
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Name, string Value)> Summary()
    {
        yield return ("pipeline", ClassName ?? "(unnamed)");
        yield return ("diffusers", DiffusersVersion ?? "(unknown)");
    }
}
