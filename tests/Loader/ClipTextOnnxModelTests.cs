using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Loader.Onnx;
using CudaI2V.Pipeline.Text;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Loader;

/// <summary>The text encoder's ONNX graph: release binding from shapes alone, the files it writes, and the cache.</summary>
public sealed class ClipTextOnnxModelTests
{
    /// <summary>text_encoder/config.json of the release (docs/i2vgenxl-spec.md section 1.4).</summary>
    public const string ReleaseConfig = """
        {
          "architectures": ["CLIPTextModel"],
          "attention_dropout": 0.0,
          "bos_token_id": 0,
          "dropout": 0.0,
          "eos_token_id": 2,
          "hidden_act": "gelu",
          "hidden_size": 1024,
          "initializer_factor": 1.0,
          "initializer_range": 0.02,
          "intermediate_size": 4096,
          "layer_norm_eps": 1e-05,
          "max_position_embeddings": 77,
          "model_type": "clip_text_model",
          "num_attention_heads": 16,
          "num_hidden_layers": 24,
          "pad_token_id": 1,
          "projection_dim": 1024,
          "torch_dtype": "float16",
          "vocab_size": 49408
        }
        """;

    private static ClipTextConfig LoadConfig(string json)
    {
        var path = Path.Combine(Fixtures.TempFolder("te-config"), "config.json");
        File.WriteAllText(path, json);
        return ClipTextConfig.Load(path);
    }

    [Fact]
    public void The_release_text_encoder_binds_every_key_of_the_release_file_by_name_and_shape()
    {
        var manifest = WeightManifest.Load(Fixtures.Path("release-layout", "text_encoder.json"));
        using var weights = ShapeOnly.FromManifest("text_encoder", manifest);

        var model = ClipTextOnnxModel.Bind(LoadConfig(ReleaseConfig), weights, includeHiddenStates: false);

        Assert.Empty(weights.Unused);
        Assert.Equal(352_984_064, model.ParameterCount);
        Assert.Equal(weights.ParameterCount, model.ParameterCount);
        Assert.Equal([ClipTextOnnxModel.LastHiddenState, ClipTextOnnxModel.PromptEmbedsClipSkip1], model.OutputNames);
        Assert.Contains("Erf", model.OperatorTypes);
        Assert.DoesNotContain("Sigmoid", model.OperatorTypes);
    }

    [Fact]
    public void A_config_that_disagrees_with_the_file_names_the_key_and_both_shapes()
    {
        using var weights = ShapeOnly.FromManifest("text_encoder", WeightManifest.Load(Fixtures.Path("release-layout", "text_encoder.json")));
        var config = LoadConfig(ReleaseConfig.Replace("\"intermediate_size\": 4096", "\"intermediate_size\": 3072", StringComparison.Ordinal));
        var e = Assert.Throws<ModelFileException>(() => ClipTextOnnxModel.Bind(config, weights, includeHiddenStates: false));
        Assert.Contains("text_model.encoder.layers.0.mlp.fc1.weight", e.Message, StringComparison.Ordinal);
        Assert.Contains("[4096, 1024]", e.Message, StringComparison.Ordinal);
        Assert.Contains("[3072, 1024]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Weights_the_model_does_not_use_are_listed()
    {
        var manifest = WeightManifest.Load(Fixtures.Path("release-layout", "text_encoder.json"));
        using var shapes = ShapeOnly.FromManifest("text_encoder", manifest);
        var extra = manifest.Entries.Select(e => new KeyValuePair<string, Tensor>(e.Key, shapes.Take(e.Key)))
            .Append(new("text_projection.weight", Tensor.Zeros(DType.F32, new TensorShape(1024, 1024))));
        using var weights = WeightSet.FromTensors("text_encoder", extra);
        var e = Assert.Throws<ModelFileException>(() => ClipTextOnnxModel.Bind(LoadConfig(ReleaseConfig), weights, includeHiddenStates: false));
        Assert.Contains("text_projection.weight", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Quick_gelu_is_built_from_a_sigmoid()
    {
        using var weights = ShapeOnly.FromManifest("text_encoder", WeightManifest.Load(Fixtures.Path("release-layout", "text_encoder.json")));
        var model = ClipTextOnnxModel.Bind(LoadConfig(ReleaseConfig.Replace("\"gelu\"", "\"quick_gelu\"", StringComparison.Ordinal)), weights, includeHiddenStates: true);
        Assert.Contains("Sigmoid", model.OperatorTypes);
        Assert.DoesNotContain("Erf", model.OperatorTypes);
        Assert.Equal(27, model.OutputNames.Count);
    }

    [Fact]
    public void Weights_go_to_the_external_data_file_and_the_model_loads_with_strict_checks()
    {
        var tiny = Fixtures.PipelineTiny;
        var folder = Fixtures.TempFolder("te-write");
        var directory = ModelDirectory.Open(tiny);
        using (var weights = directory.Get(ComponentKind.TextEncoder).OpenWeights(null, WeightVariant.Fp32))
        {
            var model = ClipTextOnnxModel.Bind(directory.TextEncoder, weights, includeHiddenStates: true);
            var dataBytes = model.Write(folder);
            Assert.True(dataBytes >= model.ParameterCount * 4, $"{dataBytes} bytes of data for {model.ParameterCount} parameters");
        }

        // Only small constants stay inside the protobuf.
        Assert.True(new FileInfo(Path.Combine(folder, ClipTextOnnxModel.ModelFileName)).Length < 64 * 1024);
        using var session = TextEncoderSession.Open(Path.Combine(folder, ClipTextOnnxModel.ModelFileName), new(TextEncoderProvider.Cpu));
        Assert.Equal(6, session.OutputNames.Count);
        Assert.Equal(TextEncoderSession.CpuProviderName, session.Provider);
    }

    [Fact]
    public void A_failed_build_leaves_no_entry_and_no_staging_folder()
    {
        var folder = Fixtures.TempFolder("te-fail");
        Fixtures.CopyTree(Fixtures.PipelineTiny, folder);
        var config = Path.Combine(folder, "text_encoder", "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"intermediate_size\": 64", "\"intermediate_size\": 48", StringComparison.Ordinal));
        var cache = new CacheRoot(Fixtures.TempFolder("te-fail-cache"));

        var e = Assert.Throws<ModelFileException>(() =>
            ClipTextOnnxCache.GetOrBuild(ModelDirectory.Open(folder).Get(ComponentKind.TextEncoder), null, cache, includeHiddenStates: false));
        Assert.Contains("mlp.fc1.weight", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(cache.Path, ClipTextOnnxCache.Area)));
    }

    [Fact]
    public void The_key_follows_the_weights_content_not_their_place()
    {
        var cache = new CacheRoot(Fixtures.TempFolder("te-key"));
        var copy = Fixtures.TempFolder("te-key-copy");
        Fixtures.CopyTree(Fixtures.PipelineTiny, copy);
        var a = ModelDirectory.Open(Fixtures.PipelineTiny);
        var b = ModelDirectory.Open(copy);
        string KeyOf(ModelDirectory m, bool hidden) =>
            ClipTextOnnxCache.Key(m.TextEncoder, m.Get(ComponentKind.TextEncoder).ResolveWeights(null, WeightVariant.Fp32), cache, hidden);

        Assert.Equal(KeyOf(a, false), KeyOf(b, false));
        Assert.NotEqual(KeyOf(a, false), KeyOf(a, true));

        var weights = Path.Combine(copy, "text_encoder", "model.safetensors");
        var bytes = File.ReadAllBytes(weights);
        bytes[^1] ^= 1;
        File.WriteAllBytes(weights, bytes);
        File.SetLastWriteTimeUtc(weights, DateTime.UtcNow.AddMinutes(1));
        Assert.NotEqual(KeyOf(a, false), KeyOf(ModelDirectory.Open(copy), false));
    }
}
