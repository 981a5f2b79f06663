using System.Text.Json;
using CudaI2V.Loader.Configs;

namespace CudaI2V.Loader;

/// <summary>One component's folder: its kind, class, parsed config (on first use) and weight files.</summary>
public sealed class ComponentFolder
{
    private readonly Lazy<ComponentConfig> _config;
    private readonly string? _declaredClass;

    internal ComponentFolder(ComponentKind kind, string path, string? declaredClass, bool fromIndex)
    {
        Kind = kind;
        Path = path;
        _declaredClass = declaredClass;
        FromIndex = fromIndex;
        _config = new Lazy<ComponentConfig>(LoadConfig);
    }

    /// <summary>Which component.</summary>
    public ComponentKind Kind { get; }

    /// <summary>The component's folder.</summary>
    public string Path { get; }

    /// <summary>True when found through model_index.json.</summary>
    public bool FromIndex { get; }

    /// <summary>The class model_index.json or the config names (or the class CudaI2V implements, if neither does).</summary>
    public string ClassName => _declaredClass ?? Config.ClassName ?? Kind.ExpectedClass();

    /// <summary>The parsed config (read and validated on first use).</summary>
    public ComponentConfig Config => _config.Value;

    /// <summary>The config file's path.</summary>
    public string ConfigPath => Kind switch
    {
        ComponentKind.Scheduler => System.IO.Path.Combine(Path, "scheduler_config.json"),
        ComponentKind.FeatureExtractor => System.IO.Path.Combine(Path, "preprocessor_config.json"),
        ComponentKind.Tokenizer => System.IO.Path.Combine(Path, "tokenizer_config.json"),
        _ => System.IO.Path.Combine(Path, "config.json"),
    };

    /// <summary>Finds the weight files; see <see cref="WeightFiles.Resolve"/>.</summary>
    public WeightFiles ResolveWeights(WeightVariant? requested, WeightVariant preferred)
    {
        RequireFolder();
        if (!Kind.HasWeights())
        {
            throw new InvalidOperationException($"The {Kind.FolderName()} component has no weights.");
        }

        return WeightFiles.Resolve(Path, Kind, requested, preferred);
    }

    /// <summary>Opens the weights as a <see cref="WeightSet"/> named after the component (with the VAE's legacy aliases).</summary>
    public WeightSet OpenWeights(WeightVariant? requested, WeightVariant preferred) =>
        ResolveWeights(requested, preferred).Open(Kind.FolderName(), Kind == ComponentKind.Vae ? WeightAliases.LegacyVaeAttention : null);

    private void RequireFolder()
    {
        if (!Directory.Exists(Path))
        {
            throw new ModelFileException($"The {Kind.FolderName()} folder is missing: {Path} (model_index.json lists it).", Path);
        }
    }

    private ComponentConfig LoadConfig()
    {
        RequireFolder();
        if (_declaredClass is { } declared && declared != Kind.ExpectedClass() && !(Kind == ComponentKind.Scheduler && SamplerKinds.FromClassName(declared) is not null))
        {
            throw new ModelFileException(
                $"The {Kind.FolderName()} component is a {declared}; CudaI2V implements {Kind.ExpectedClass()} for it.", Path);
        }

        ComponentConfig config = Kind switch
        {
            ComponentKind.Unet => UNetConfig.Load(ConfigPath),
            ComponentKind.Vae => VaeConfig.Load(ConfigPath),
            ComponentKind.TextEncoder => ClipTextConfig.Load(ConfigPath),
            ComponentKind.ImageEncoder => ClipVisionConfig.Load(ConfigPath),
            ComponentKind.Tokenizer => TokenizerConfig.Load(Path),
            ComponentKind.FeatureExtractor => FeatureExtractorConfig.Load(ConfigPath),
            ComponentKind.Scheduler => LoadScheduler(ConfigPath),
            _ => throw new ArgumentOutOfRangeException(nameof(Kind)),
        };
        if (Kind is ComponentKind.Unet or ComponentKind.Vae or ComponentKind.TextEncoder or ComponentKind.ImageEncoder
            && config.ClassName is { } named && named != Kind.ExpectedClass())
        {
            throw new ModelFileException($"{ConfigPath} describes a {named}; CudaI2V implements {Kind.ExpectedClass()} for the {Kind.FolderName()}.", ConfigPath);
        }

        return config;
    }

    /// <summary>
    /// A scheduler config read as the class its <c>_class_name</c> names (DDIMScheduler when none): a
    /// <see cref="SchedulerConfig"/> for DDIM, a <see cref="SamplerConfig"/> for the multistep samplers.
    /// </summary>
    private static ComponentConfig LoadScheduler(string path)
    {
        var named = SamplerConfig.DeclaredClass(path);
        var kind = named is null ? SamplerKind.Ddim : SamplerKinds.FromClassName(named) ?? throw new ModelFileException(
            $"{path}: '_class_name' is \"{named}\"; CudaI2V runs {string.Join(", ", SamplerKinds.All.Select(k => k.ClassName()))} "
            + $"(choose one with --sampler {string.Join('|', SamplerKinds.All.Select(k => k.OptionName()))}, which reads this file's settings as that class would).",
            path,
            "_class_name");
        return kind == SamplerKind.Ddim ? SchedulerConfig.Load(path) : SamplerConfig.Load(path, kind);
    }

    /// <summary>Reads the class name and model type a config.json declares, without validating the rest.</summary>
    internal static (string? ClassName, string? ModelType) ProbeClass(string configPath)
    {
        using (var document = ConfigReader.ParseFile(configPath))
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new ModelFileException($"{configPath} must hold a JSON object.", configPath);
            }

            string? className = null;
            if (root.TryGetProperty("_class_name", out var c) && c.ValueKind == JsonValueKind.String)
            {
                className = c.GetString();
            }
            else if (root.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array && a.GetArrayLength() > 0
                && a[0].ValueKind == JsonValueKind.String)
            {
                className = a[0].GetString();
            }

            var modelType = root.TryGetProperty("model_type", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
            return (className, modelType);
        }
    }
}
