using System.Reflection;
using CudaI2V.Loader;
using CudaI2V.Pipeline.Imaging;

namespace CudaI2V.Cli.Demo;

/// <summary>
/// <c>cudai2v generate --demo</c>'s model: a small pipeline in the release's folder layout (model_index.json,
/// unet, vae, text_encoder, image_encoder, tokenizer, feature_extractor, scheduler) whose configs, tokenizer and
/// weight manifests ship inside the tool. They are the tests' tiny pipeline (tests/fixtures/pipeline-tiny/, embedded
/// at build time by the CLI's project file), so the demo runs the model the pipeline fixtures hold to diffusers. Its
/// weights are made by <see cref="FixtureWeights"/> from the manifests, so no download is needed, and they are random:
/// the video shows nothing meaningful.
/// </summary>
internal static class DemoModel
{
    private const string Prefix = "demo/";
    private const string Version = "v1";

    /// <summary>The demo's prompt.</summary>
    public const string Prompt = "a cat surfing on the water";

    /// <summary>The demo's negative prompt.</summary>
    public const string NegativePrompt = "blurry";

    /// <summary>The built-in 80x60 input image.</summary>
    public static RgbImage Image()
    {
        using var stream = Open("input.png");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        copy.Position = 0;
        return ImageLoader.Load(copy, "the built-in demo image");
    }

    /// <summary>The demo model folder under <paramref name="cacheFolder"/>, written on first use (under a temporary name, then renamed).</summary>
    public static string Ensure(string cacheFolder)
    {
        var target = Path.Combine(cacheFolder, "demo-model", Version);
        if (File.Exists(Path.Combine(target, "model_index.json")))
        {
            return target;
        }

        var staging = target + ".partial-" + Guid.NewGuid().ToString("N");
        try
        {
            foreach (var resource in Assembly.GetExecutingAssembly().GetManifestResourceNames())
            {
                // MSBuild writes the folder part with the build machine's separator.
                var name = resource.Replace('\\', '/');
                if (!name.StartsWith(Prefix + "model/", StringComparison.Ordinal))
                {
                    continue;
                }

                var path = Path.Combine([staging, .. name[(Prefix.Length + "model/".Length)..].Split('/')]);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                using var source = Assembly.GetExecutingAssembly().GetManifestResourceStream(resource)!;
                using var file = File.Create(path);
                source.CopyTo(file);
            }

            foreach (var component in new[] { "unet", "vae", "text_encoder", "image_encoder" })
            {
                var manifestPath = Path.Combine(staging, component + ".manifest.json");
                using (var source = Open($"manifests/{component}.json"))
                using (var file = File.Create(manifestPath))
                {
                    source.CopyTo(file);
                }

                var manifest = WeightManifest.Load(manifestPath);
                File.Delete(manifestPath);
                FixtureWeights.WriteManifest(component, manifest, Path.Combine(staging, component, manifest.File));
            }

            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            if (Directory.Exists(target))
            {
                Directory.Delete(target, recursive: true);
            }

            Directory.Move(staging, target);
            return target;
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }
    }

    private static Stream Open(string name)
    {
        var assembly = Assembly.GetExecutingAssembly();
        var resource = assembly.GetManifestResourceNames().FirstOrDefault(r => r.Replace('\\', '/') == Prefix + name);
        return (resource is null ? null : assembly.GetManifestResourceStream(resource))
            ?? throw new InvalidOperationException($"The demo resource '{name}' is missing from this build of cudai2v.");
    }
}
