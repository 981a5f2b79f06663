using CudaI2V.Layers.Clip;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Layers;

/// <summary>The release's CLIP vision encoder (ali-vilab/i2vgen-xl image_encoder) binds every key of its fp16 file by name and shape.</summary>
public sealed class ClipVisionReleaseLayoutTests
{
    /// <summary>image_encoder/config.json of the release (docs/i2vgenxl-spec.md section 1.5).</summary>
    public const string ReleaseConfig = """
        {
          "architectures": ["CLIPVisionModelWithProjection"],
          "attention_dropout": 0.0,
          "dropout": 0.0,
          "hidden_act": "gelu",
          "hidden_size": 1280,
          "image_size": 224,
          "initializer_factor": 1.0,
          "initializer_range": 0.02,
          "intermediate_size": 5120,
          "layer_norm_eps": 1e-05,
          "model_type": "clip_vision_model",
          "num_attention_heads": 16,
          "num_channels": 3,
          "num_hidden_layers": 32,
          "patch_size": 14,
          "projection_dim": 1024,
          "torch_dtype": "float16"
        }
        """;

    private static readonly WeightManifest Manifest = WeightManifest.Load(Fixtures.Path("release-layout", "image_encoder.json"));

    private static ClipVisionConfig Config(string json = ReleaseConfig)
    {
        var path = Path.Combine(Fixtures.TempFolder("release-image-encoder"), "config.json");
        File.WriteAllText(path, json);
        return ClipVisionConfig.Load(path);
    }

    [Fact]
    public void Release_image_encoder_takes_every_key_of_the_release_file_exactly()
    {
        var config = Config();
        using var weights = ShapeOnly.FromManifest("image_encoder", Manifest);

        var model = ClipVisionModelWithProjection.Load(new BindingOnlyOps(), weights, config);

        Assert.Empty(weights.Unused);
        Assert.Equal(Manifest.Entries.Count, weights.Count);
        Assert.Equal(632_076_800, weights.ParameterCount);
        Assert.Equal(32, model.VisionModel.Encoder.Layers.Count);
        Assert.Equal(257, model.VisionModel.Embeddings.NumPositions);
        Assert.Equal((16, 80), (config.NumAttentionHeads, config.HeadDim));
        Assert.Contains(Manifest.Entries, e => e.Key == "vision_model.pre_layrnorm.weight");
        Assert.DoesNotContain(Manifest.Entries, e => e.Key == "visual_projection.bias");
    }

    [Fact]
    public void A_position_ids_buffer_of_an_older_file_is_ignored()
    {
        var shapes = ShapeOnly.FromManifest("image_encoder", Manifest);
        var tensors = Manifest.Entries.Select(e => new KeyValuePair<string, Tensor>(e.Key, shapes.Take(e.Key)))
            .Append(new("vision_model.embeddings.position_ids", Tensor.Zeros(DType.I64, new TensorShape(1, 257))));
        using var weights = WeightSet.FromTensors("image_encoder", tensors);

        ClipVisionModelWithProjection.Load(new BindingOnlyOps(), weights, Config());

        Assert.Empty(weights.Unused);
    }

    [Fact]
    public void A_config_that_disagrees_with_the_file_names_the_key_and_both_shapes()
    {
        using var weights = ShapeOnly.FromManifest("image_encoder", Manifest);
        var config = Config(ReleaseConfig.Replace("\"projection_dim\": 1024", "\"projection_dim\": 768", StringComparison.Ordinal));

        var e = Assert.Throws<ModelFileException>(() => ClipVisionModelWithProjection.Load(new BindingOnlyOps(), weights, config));

        Assert.Contains("'visual_projection.weight' has shape [1024, 1280]", e.Message, StringComparison.Ordinal);
        Assert.Contains("[768, 1280]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_config_with_fewer_layers_than_the_file_lists_the_unused_keys()
    {
        using var weights = ShapeOnly.FromManifest("image_encoder", Manifest);
        var config = Config(ReleaseConfig.Replace("\"num_hidden_layers\": 32", "\"num_hidden_layers\": 31", StringComparison.Ordinal));

        var e = Assert.Throws<ModelFileException>(() => ClipVisionModelWithProjection.Load(new BindingOnlyOps(), weights, config));

        Assert.Contains("16 image_encoder weight(s) were not used", e.Message, StringComparison.Ordinal);
        Assert.Contains("vision_model.encoder.layers.31.mlp.fc1.weight", e.Message, StringComparison.Ordinal);
    }
}
