using CudaI2V.Loader;

namespace CudaI2V.Tests.Support;

/// <summary>
/// The reference fixtures copied into tests/fixtures, and model folders rebuilt from them: configs copied,
/// weights regenerated from the manifests (no weight file is committed). Each folder is built once per test run.
/// </summary>
public static class Fixtures
{
    private static readonly Lazy<string> PipelineTinyFolder = new(BuildPipelineTiny);
    private static readonly Dictionary<string, Lazy<string>> UNetFolders = new()
    {
        ["unet-tiny"] = new(() => BuildComponent("unet-tiny", "unet")),
        ["unet-odd"] = new(() => BuildComponent("unet-odd", "unet")),
        ["vae-tiny"] = new(() => BuildComponent("vae-tiny", "vae")),
    };

    /// <summary>The fixtures folder beside the test assembly.</summary>
    public static string Root { get; } = System.IO.Path.Combine(AppContext.BaseDirectory, "fixtures");

    /// <summary>A path inside the fixtures folder.</summary>
    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    /// <summary>The tiny pipeline folder with all its weights regenerated (built once).</summary>
    public static string PipelineTiny => PipelineTinyFolder.Value;

    /// <summary>A single-component model folder ("unet-tiny", "unet-odd", "vae-tiny") with its weights regenerated.</summary>
    public static string ComponentModel(string name) => UNetFolders[name].Value;

    /// <summary>A fresh empty temporary folder, removed at process exit.</summary>
    public static string TempFolder(string prefix)
    {
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"cudai2v-{prefix}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(path);
        return path;
    }

    /// <summary>Copies a folder tree.</summary>
    public static void CopyTree(string source, string target)
    {
        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(source))
        {
            File.Copy(file, System.IO.Path.Combine(target, System.IO.Path.GetFileName(file)), overwrite: true);
        }

        foreach (var dir in Directory.GetDirectories(source))
        {
            CopyTree(dir, System.IO.Path.Combine(target, System.IO.Path.GetFileName(dir)));
        }
    }

    private static string BuildPipelineTiny()
    {
        var root = TempFolder("pipeline-tiny");
        CopyTree(Path("pipeline-tiny", "model"), root);
        foreach (var component in new[] { "unet", "vae", "text_encoder", "image_encoder" })
        {
            var manifest = WeightManifest.Load(Path("pipeline-tiny", "manifests", component + ".json"));
            FixtureWeights.WriteManifest(component, manifest, System.IO.Path.Combine(root, component, manifest.File));
        }

        return root;
    }

    private static string BuildComponent(string fixture, string component)
    {
        var root = TempFolder(fixture);
        CopyTree(Path(fixture, "model"), root);
        var manifest = WeightManifest.Load(Path(fixture, "weights-manifest.json"));
        FixtureWeights.WriteManifest(component, manifest, System.IO.Path.Combine(root, manifest.File));
        return root;
    }

    private static void TryDelete(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
