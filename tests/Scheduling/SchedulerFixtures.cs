using System.Text.Json;
using CudaI2V.Loader.Configs;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Scheduling;

/// <summary>The tests/fixtures/scheduler variants: their configs and the tables diffusers produced (ddim.json).</summary>
public static class SchedulerFixtures
{
    /// <summary>The four variant folder names, as xunit theory data.</summary>
    public static TheoryData<string> Variants { get; } = new("release", "sd-epsilon", "linear-trailing-clip", "cosine-linspace-v");

    /// <summary>The variant's folder (holding scheduler_config.json).</summary>
    public static string Folder(string variant) => Fixtures.Path("scheduler", variant);

    /// <summary>The variant's steps-30.safetensors.</summary>
    public static string Steps(string variant) => Fixtures.Path("scheduler", variant, "steps-30.safetensors");

    /// <summary>The variant's config, read as CudaI2V reads it.</summary>
    public static SchedulerConfig Config(string variant) => SchedulerConfig.Load(Fixtures.Path("scheduler", variant, "scheduler_config.json"));

    /// <summary>A config from JSON text (written to a temporary folder, which is returned too).</summary>
    public static (SchedulerConfig Config, string Folder) FromJson(string json)
    {
        var folder = Fixtures.TempFolder("scheduler");
        var path = Path.Combine(folder, "scheduler_config.json");
        File.WriteAllText(path, json);
        return (SchedulerConfig.Load(path), folder);
    }

    /// <summary>ddim.json: the 1000 alphas_cumprod (float32 values written as doubles), the final alpha, and the timesteps per step count.</summary>
    public static (double[] AlphasCumprod, double FinalAlphaCumprod, IReadOnlyDictionary<int, int[]> Timesteps) Expected(string variant)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Fixtures.Path("scheduler", variant, "ddim.json")));
        var root = document.RootElement;
        var alphas = root.GetProperty("alphas_cumprod").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var timesteps = root.GetProperty("timesteps").EnumerateObject()
            .ToDictionary(p => int.Parse(p.Name, System.Globalization.CultureInfo.InvariantCulture), p => p.Value.EnumerateArray().Select(e => e.GetInt32()).ToArray());
        return (alphas, root.GetProperty("final_alpha_cumprod").GetDouble(), timesteps);
    }
}
