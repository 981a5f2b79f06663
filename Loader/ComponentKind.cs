namespace CudaI2V.Loader;

/// <summary>The components of an I2VGen-XL pipeline folder, by their folder names.</summary>
public enum ComponentKind
{
    /// <summary><c>unet/</c>: I2VGenXLUNet.</summary>
    Unet,

    /// <summary><c>vae/</c>: AutoencoderKL.</summary>
    Vae,

    /// <summary><c>text_encoder/</c>: CLIPTextModel.</summary>
    TextEncoder,

    /// <summary><c>image_encoder/</c>: CLIPVisionModelWithProjection.</summary>
    ImageEncoder,

    /// <summary><c>tokenizer/</c>: CLIPTokenizer.</summary>
    Tokenizer,

    /// <summary><c>feature_extractor/</c>: CLIPImageProcessor.</summary>
    FeatureExtractor,

    /// <summary><c>scheduler/</c>: DDIMScheduler.</summary>
    Scheduler,
}

/// <summary>Folder names and file conventions of each <see cref="ComponentKind"/>.</summary>
public static class ComponentKinds
{
    /// <summary>All kinds, in pipeline order.</summary>
    public static IReadOnlyList<ComponentKind> All { get; } =
    [
        ComponentKind.Unet, ComponentKind.Vae, ComponentKind.TextEncoder, ComponentKind.ImageEncoder,
        ComponentKind.Tokenizer, ComponentKind.FeatureExtractor, ComponentKind.Scheduler,
    ];

    /// <summary>The folder (and model_index.json) name: "unet", "text_encoder", ...</summary>
    public static string FolderName(this ComponentKind kind) => kind switch
    {
        ComponentKind.Unet => "unet",
        ComponentKind.Vae => "vae",
        ComponentKind.TextEncoder => "text_encoder",
        ComponentKind.ImageEncoder => "image_encoder",
        ComponentKind.Tokenizer => "tokenizer",
        ComponentKind.FeatureExtractor => "feature_extractor",
        ComponentKind.Scheduler => "scheduler",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The kind of a folder name, or null.</summary>
    public static ComponentKind? FromFolderName(string name) =>
        All.Cast<ComponentKind?>().FirstOrDefault(k => k!.Value.FolderName() == name);

    /// <summary>True for components with a weight file.</summary>
    public static bool HasWeights(this ComponentKind kind) =>
        kind is ComponentKind.Unet or ComponentKind.Vae or ComponentKind.TextEncoder or ComponentKind.ImageEncoder;

    /// <summary>The weight file's base name: diffusers' "diffusion_pytorch_model" or transformers' "model".</summary>
    public static string WeightBaseName(this ComponentKind kind) =>
        kind is ComponentKind.Unet or ComponentKind.Vae ? "diffusion_pytorch_model" : "model";

    /// <summary>The class CudaI2V implements for the component.</summary>
    public static string ExpectedClass(this ComponentKind kind) => kind switch
    {
        ComponentKind.Unet => "I2VGenXLUNet",
        ComponentKind.Vae => "AutoencoderKL",
        ComponentKind.TextEncoder => "CLIPTextModel",
        ComponentKind.ImageEncoder => "CLIPVisionModelWithProjection",
        ComponentKind.Tokenizer => "CLIPTokenizer",
        ComponentKind.FeatureExtractor => "CLIPImageProcessor",
        ComponentKind.Scheduler => "DDIMScheduler",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}
