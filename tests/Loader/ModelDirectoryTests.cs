using System.Text.Json;
using CudaI2V.Loader;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Loader;

/// <summary>Pipeline and single-component folders, weight variants, sharding and the errors for what is missing.</summary>
public sealed class ModelDirectoryTests
{
    private readonly string _dir = Fixtures.TempFolder("modeldir");

    [Fact]
    public void Pipeline_folder_opens_every_component_and_its_weights()
    {
        var model = ModelDirectory.Open(Fixtures.PipelineTiny);
        using var unet = model.Get(ComponentKind.Unet).OpenWeights(null, WeightVariant.Fp32);
        Assert.Equal(3_663_400, unet.ParameterCount);
        using var vae = model.Get(ComponentKind.Vae).OpenWeights(null, WeightVariant.Fp32);
        Assert.True(vae.Contains("encoder.mid_block.attentions.0.to_q.weight"));
    }

    [Theory]
    [InlineData("unet-tiny", ComponentKind.Unet)]
    [InlineData("vae-tiny", ComponentKind.Vae)]
    public void Single_component_folders_are_recognised_by_their_config(string fixture, ComponentKind kind)
    {
        var model = ModelDirectory.Open(Fixtures.ComponentModel(fixture));
        Assert.False(model.IsPipeline);
        Assert.Equal(kind, Assert.Single(model.Components).Kind);
        using var weights = model.Get(kind).OpenWeights(null, WeightVariant.Fp16);
        Assert.True(weights.Count > 0);
    }

    [Theory]
    [InlineData("scheduler", ComponentKind.Scheduler)]
    [InlineData("tokenizer", ComponentKind.Tokenizer)]
    [InlineData("feature_extractor", ComponentKind.FeatureExtractor)]
    [InlineData("text_encoder", ComponentKind.TextEncoder)]
    [InlineData("image_encoder", ComponentKind.ImageEncoder)]
    public void Pipeline_sub_folders_open_on_their_own(string folder, ComponentKind kind)
    {
        var model = ModelDirectory.Open(Path.Combine(Fixtures.PipelineTiny, folder));
        var component = Assert.Single(model.Components);
        Assert.Equal(kind, component.Kind);
        Assert.NotNull(component.Config);
    }

    [Fact]
    public void Scheduler_variant_folders_open_as_schedulers()
    {
        foreach (var variant in new[] { "release", "sd-epsilon", "linear-trailing-clip", "cosine-linspace-v" })
        {
            var model = ModelDirectory.Open(Fixtures.Path("scheduler", variant));
            Assert.Equal(ComponentKind.Scheduler, Assert.Single(model.Components).Kind);
            Assert.NotNull(model.Scheduler);
        }
    }

    [Fact]
    public void Missing_component_says_what_was_looked_for()
    {
        var model = ModelDirectory.Open(Fixtures.ComponentModel("unet-tiny"));
        var e = Assert.Throws<ModelFileException>(() => model.Get(ComponentKind.Vae));
        Assert.Contains("no vae", e.Message, StringComparison.Ordinal);

        var pipeline = CopyPipeline();
        Directory.Delete(Path.Combine(pipeline, "vae"), recursive: true);
        var broken = ModelDirectory.Open(pipeline);
        var missing = Assert.Throws<ModelFileException>(() => broken.Vae);
        Assert.Contains(Path.Combine(pipeline, "vae"), missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Folders_that_are_not_models_are_refused()
    {
        var empty = Path.Combine(_dir, "empty");
        Directory.CreateDirectory(empty);
        Assert.Contains("model_index.json", Assert.Throws<ModelFileException>(() => ModelDirectory.Open(empty)).Message, StringComparison.Ordinal);
        Assert.Contains("not found", Assert.Throws<ModelFileException>(() => ModelDirectory.Open(Path.Combine(_dir, "nowhere"))).Message, StringComparison.Ordinal);

        var other = Path.Combine(_dir, "other");
        Directory.CreateDirectory(other);
        File.WriteAllText(Path.Combine(other, "config.json"), """{"_class_name": "UNet2DConditionModel"}""");
        Assert.Contains("UNet2DConditionModel", Assert.Throws<ModelFileException>(() => ModelDirectory.Open(other)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_component_of_another_class_is_refused()
    {
        var pipeline = CopyPipeline();
        var indexPath = Path.Combine(pipeline, "model_index.json");
        var index = File.ReadAllText(indexPath);
        File.WriteAllText(indexPath, index.Replace("DDIMScheduler", "PNDMScheduler", StringComparison.Ordinal));
        var e = Assert.Throws<ModelFileException>(() => ModelDirectory.Open(pipeline).Scheduler);
        Assert.Contains("PNDMScheduler", e.Message, StringComparison.Ordinal);

        // A sampler class CudaI2V runs is accepted; the scheduler_config.json's own _class_name then decides (docs/samplers.md).
        File.WriteAllText(indexPath, index.Replace("DDIMScheduler", "EulerDiscreteScheduler", StringComparison.Ordinal));
        Assert.NotNull(ModelDirectory.Open(pipeline).Scheduler);
    }

    [Fact]
    public void Variant_option_chooses_between_fp32_and_fp16_files()
    {
        var folder = UnetFolderWith(fp32: true, fp16: true);
        var component = ModelDirectory.Open(folder).Get(ComponentKind.Unet);
        Assert.Equal(WeightVariant.Fp32, component.ResolveWeights(null, WeightFiles.DefaultFor(DType.F32)).Variant);
        Assert.Equal(WeightVariant.Fp16, component.ResolveWeights(null, WeightFiles.DefaultFor(DType.F16)).Variant);
        Assert.Equal(WeightVariant.Fp32, component.ResolveWeights(WeightVariant.Fp32, WeightVariant.Fp16).Variant);
        Assert.EndsWith("diffusion_pytorch_model.fp16.safetensors", component.ResolveWeights(WeightVariant.Fp16, WeightVariant.Fp32).Files[0], StringComparison.Ordinal);
        using var weights = component.OpenWeights(WeightVariant.Fp16, WeightVariant.Fp32);
        Assert.Equal(DType.F16, weights.DTypeOf("conv_in.weight"));
    }

    [Fact]
    public void Only_one_variant_present_is_used_unless_the_other_is_demanded()
    {
        var folder = UnetFolderWith(fp32: false, fp16: true);
        var component = ModelDirectory.Open(folder).Get(ComponentKind.Unet);
        Assert.Equal(WeightVariant.Fp16, component.ResolveWeights(null, WeightVariant.Fp32).Variant);
        var e = Assert.Throws<ModelFileException>(() => component.ResolveWeights(WeightVariant.Fp32, WeightVariant.Fp32));
        Assert.Contains("diffusion_pytorch_model.safetensors", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_weights_list_the_names_looked_for_and_mention_pickles()
    {
        var folder = UnetFolderWith(fp32: false, fp16: false);
        File.WriteAllText(Path.Combine(folder, "diffusion_pytorch_model.bin"), "pickle");
        var e = Assert.Throws<ModelFileException>(() => ModelDirectory.Open(folder).Get(ComponentKind.Unet).ResolveWeights(null, WeightVariant.Fp32));
        Assert.Contains("diffusion_pytorch_model.fp16.safetensors", e.Message, StringComparison.Ordinal);
        Assert.Contains("diffusion_pytorch_model.safetensors.index.json", e.Message, StringComparison.Ordinal);
        Assert.Contains("pickle", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Sharded_weights_load_through_their_index_and_are_checked_against_it()
    {
        var folder = UnetFolderWith(fp32: false, fp16: false);
        var manifest = WeightManifest.Load(Fixtures.Path("unet-tiny", "weights-manifest.json"));
        var all = FixtureWeights.FromManifest("unet", manifest).ToList();
        var half = all.Count / 2;
        SafetensorsWriter.Write(Path.Combine(folder, "diffusion_pytorch_model-00001-of-00002.safetensors"), all[..half]);
        SafetensorsWriter.Write(Path.Combine(folder, "diffusion_pytorch_model-00002-of-00002.safetensors"), all[half..]);
        var map = all.Select((p, i) => (p.Key, File: i < half ? "diffusion_pytorch_model-00001-of-00002.safetensors" : "diffusion_pytorch_model-00002-of-00002.safetensors"))
            .ToDictionary(p => p.Key, p => p.File);
        var indexPath = Path.Combine(folder, "diffusion_pytorch_model.safetensors.index.json");
        File.WriteAllText(indexPath, JsonSerializer.Serialize(new Dictionary<string, object> { ["metadata"] = new Dictionary<string, long>(), ["weight_map"] = map }));

        var component = ModelDirectory.Open(folder).Get(ComponentKind.Unet);
        var files = component.ResolveWeights(null, WeightVariant.Fp32);
        Assert.Equal(2, files.Files.Count);
        using (var weights = component.OpenWeights(null, WeightVariant.Fp32))
        {
            Assert.Equal(3_663_400, weights.ParameterCount);
        }

        var first = all[0].Key;
        map[first] = "diffusion_pytorch_model-00002-of-00002.safetensors";
        File.WriteAllText(indexPath, JsonSerializer.Serialize(new Dictionary<string, object> { ["weight_map"] = map }));
        Assert.Contains(first, Assert.Throws<ModelFileException>(() => component.OpenWeights(null, WeightVariant.Fp32)).Message, StringComparison.Ordinal);

        map[first] = "diffusion_pytorch_model-00003-of-00002.safetensors";
        File.WriteAllText(indexPath, JsonSerializer.Serialize(new Dictionary<string, object> { ["weight_map"] = map }));
        Assert.Contains("00003", Assert.Throws<ModelFileException>(() => component.ResolveWeights(null, WeightVariant.Fp32)).Message, StringComparison.Ordinal);
    }

    private string UnetFolderWith(bool fp32, bool fp16)
    {
        var folder = Path.Combine(_dir, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        File.Copy(Fixtures.Path("unet-tiny", "model", "config.json"), Path.Combine(folder, "config.json"));
        var manifest = WeightManifest.Load(Fixtures.Path("unet-tiny", "weights-manifest.json"));
        if (fp32)
        {
            FixtureWeights.WriteManifest("unet", manifest, Path.Combine(folder, "diffusion_pytorch_model.safetensors"));
        }

        if (fp16)
        {
            SafetensorsWriter.Write(
                Path.Combine(folder, "diffusion_pytorch_model.fp16.safetensors"),
                FixtureWeights.FromManifest("unet", manifest).Select(p => new KeyValuePair<string, Tensor>(p.Key, p.Value.To(DType.F16))));
        }

        return folder;
    }

    private string CopyPipeline()
    {
        var target = Path.Combine(_dir, Guid.NewGuid().ToString("N"));
        Fixtures.CopyTree(Fixtures.Path("pipeline-tiny", "model"), target);
        return target;
    }
}
