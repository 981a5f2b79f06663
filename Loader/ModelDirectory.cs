using CudaI2V.Loader.Configs;

namespace CudaI2V.Loader;

/// <summary>
/// A diffusers model folder: either a whole pipeline (it has <c>model_index.json</c> and one sub-folder per
/// component) or a single component's folder (its <c>config.json</c> and weights, a scheduler, a tokenizer or a
/// feature extractor). Configs are parsed when first asked for; anything missing is an error that says what
/// was looked for where.
/// </summary>
public sealed class ModelDirectory
{
    private readonly Dictionary<ComponentKind, ComponentFolder> _components;

    private ModelDirectory(string root, ModelIndex? index, Dictionary<ComponentKind, ComponentFolder> components, IReadOnlyList<string> ignored)
    {
        Root = root;
        Index = index;
        _components = components;
        IgnoredComponents = ignored;
    }

    /// <summary>The folder.</summary>
    public string Root { get; }

    /// <summary>The pipeline's model_index.json; null for a single-component folder.</summary>
    public ModelIndex? Index { get; }

    /// <summary>True for a whole pipeline folder.</summary>
    public bool IsPipeline => Index is not null;

    /// <summary>The components present, in pipeline order.</summary>
    public IReadOnlyList<ComponentFolder> Components =>
        ComponentKinds.All.Where(_components.ContainsKey).Select(k => _components[k]).ToList();

    /// <summary>Components model_index.json lists that CudaI2V does not use (for example a safety checker).</summary>
    public IReadOnlyList<string> IgnoredComponents { get; }

    /// <summary>Opens <paramref name="path"/> as a pipeline or a single-component folder.</summary>
    public static ModelDirectory Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var root = Path.GetFullPath(path);
        if (!Directory.Exists(root))
        {
            throw new ModelFileException($"Model folder not found: {root}.", root);
        }

        var indexPath = Path.Combine(root, "model_index.json");
        if (File.Exists(indexPath))
        {
            return OpenPipeline(root, indexPath);
        }

        var single = DetectSingle(root)
            ?? throw new ModelFileException(
                $"{root} is not a model folder: expected model_index.json (a whole pipeline, such as the ali-vilab/i2vgen-xl download) "
                + "or one component's files (config.json with weights, scheduler_config.json, preprocessor_config.json, or vocab.json with merges.txt).",
                root);
        return new ModelDirectory(root, null, new() { [single.Kind] = single }, []);
    }

    private static ModelDirectory OpenPipeline(string root, string indexPath)
    {
        var index = ModelIndex.Load(indexPath);
        var components = new Dictionary<ComponentKind, ComponentFolder>();
        var ignored = new List<string>();
        foreach (var entry in index.Components)
        {
            if (ComponentKinds.FromFolderName(entry.Name) is not { } kind)
            {
                ignored.Add($"{entry.Name} ({entry.ClassName})");
                continue;
            }

            components[kind] = new ComponentFolder(kind, Path.Combine(root, entry.Name), entry.ClassName, fromIndex: true);
        }

        return new ModelDirectory(root, index, components, ignored);
    }

    private static ComponentFolder? DetectSingle(string root)
    {
        var config = Path.Combine(root, "config.json");
        if (File.Exists(config))
        {
            var probe = ComponentFolder.ProbeClass(config);
            var kind = ComponentKinds.All.Where(k => k.HasWeights())
                .Cast<ComponentKind?>()
                .FirstOrDefault(k => k!.Value.ExpectedClass() == probe.ClassName || (probe.ModelType is { } t && ModelTypeOf(k!.Value) == t));
            return kind is { } found
                ? new ComponentFolder(found, root, probe.ClassName ?? found.ExpectedClass(), fromIndex: false)
                : throw new ModelFileException(
                    $"{config} describes a '{probe.ClassName ?? probe.ModelType ?? "unnamed"}' model; CudaI2V loads I2VGenXLUNet, AutoencoderKL, CLIPTextModel and CLIPVisionModelWithProjection.",
                    config);
        }

        if (File.Exists(Path.Combine(root, "scheduler_config.json")))
        {
            return new ComponentFolder(ComponentKind.Scheduler, root, null, fromIndex: false);
        }

        if (File.Exists(Path.Combine(root, "preprocessor_config.json")))
        {
            return new ComponentFolder(ComponentKind.FeatureExtractor, root, null, fromIndex: false);
        }

        return File.Exists(Path.Combine(root, "vocab.json")) && File.Exists(Path.Combine(root, "merges.txt"))
            ? new ComponentFolder(ComponentKind.Tokenizer, root, null, fromIndex: false)
            : null;
    }

    private static string? ModelTypeOf(ComponentKind kind) => kind switch
    {
        ComponentKind.TextEncoder => "clip_text_model",
        ComponentKind.ImageEncoder => "clip_vision_model",
        _ => null,
    };

    /// <summary>True when the folder has the component.</summary>
    public bool Has(ComponentKind kind) => _components.ContainsKey(kind);

    /// <summary>The component, or an error saying what was looked for.</summary>
    public ComponentFolder Get(ComponentKind kind)
    {
        if (_components.TryGetValue(kind, out var folder))
        {
            return folder;
        }

        var where = IsPipeline
            ? $"{Path.Combine(Root, "model_index.json")} lists no '{kind.FolderName()}' component"
            : $"{Root} holds only the {string.Join(", ", _components.Keys.Select(k => k.FolderName()))} component";
        throw new ModelFileException($"The model has no {kind.FolderName()}: {where}. Point --model at a whole pipeline folder or at the {kind.FolderName()} folder itself.", Root);
    }

    /// <summary>The UNet's config.</summary>
    public UNetConfig UNet => (UNetConfig)Get(ComponentKind.Unet).Config;

    /// <summary>The VAE's config.</summary>
    public VaeConfig Vae => (VaeConfig)Get(ComponentKind.Vae).Config;

    /// <summary>The text encoder's config.</summary>
    public ClipTextConfig TextEncoder => (ClipTextConfig)Get(ComponentKind.TextEncoder).Config;

    /// <summary>The image encoder's config.</summary>
    public ClipVisionConfig ImageEncoder => (ClipVisionConfig)Get(ComponentKind.ImageEncoder).Config;

    /// <summary>The tokenizer's files and settings.</summary>
    public TokenizerConfig Tokenizer => (TokenizerConfig)Get(ComponentKind.Tokenizer).Config;

    /// <summary>The feature extractor's settings.</summary>
    public FeatureExtractorConfig FeatureExtractor => (FeatureExtractorConfig)Get(ComponentKind.FeatureExtractor).Config;

    /// <summary>The scheduler's settings read as DDIMScheduler's (the release's class).</summary>
    /// <exception cref="ModelFileException">The config names another sampler class (read it through <see cref="SchedulerConfigPath"/>).</exception>
    public SchedulerConfig Scheduler => Get(ComponentKind.Scheduler).Config as SchedulerConfig ?? throw new ModelFileException(
        $"{SchedulerConfigPath} describes a {Get(ComponentKind.Scheduler).Config.ClassName}, not the DDIMScheduler this use reads.", SchedulerConfigPath, "_class_name");

    /// <summary>The scheduler's <c>scheduler_config.json</c> (whatever sampler class it names).</summary>
    public string SchedulerConfigPath => Get(ComponentKind.Scheduler).ConfigPath;
}
