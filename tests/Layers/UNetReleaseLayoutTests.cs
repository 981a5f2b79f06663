using CudaI2V.Layers.UNet;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Layers;

/// <summary>The release's UNet (ali-vilab/i2vgen-xl) binds every key of its fp16 file by name and shape.</summary>
public sealed class UNetReleaseLayoutTests
{
    /// <summary>unet/config.json of the release (docs/i2vgenxl-spec.md section 1.2).</summary>
    public const string ReleaseConfig = """
        {
          "_class_name": "I2VGenXLUNet",
          "_diffusers_version": "0.25.0.dev0",
          "attention_head_dim": 64,
          "block_out_channels": [320, 640, 1280, 1280],
          "cross_attention_dim": 1024,
          "down_block_types": ["CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "DownBlock3D"],
          "in_channels": 4,
          "layers_per_block": 2,
          "norm_num_groups": 32,
          "num_attention_heads": 64,
          "out_channels": 4,
          "sample_size": 32,
          "up_block_types": ["UpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D"]
        }
        """;

    [Fact]
    public void Release_unet_takes_every_key_of_the_release_file_exactly()
    {
        var folder = Fixtures.TempFolder("release-unet");
        var configPath = Path.Combine(folder, "config.json");
        File.WriteAllText(configPath, ReleaseConfig);
        var config = UNetConfig.Load(configPath);
        var manifest = WeightManifest.Load(Fixtures.Path("release-layout", "unet.json"));
        using var weights = ShapeOnly.FromManifest("unet", manifest);

        var unet = I2VGenXLUNet.Load(new BindingOnlyOps(), weights, config);

        Assert.Empty(weights.Unused);
        Assert.Equal(1511, weights.Count);
        Assert.Equal(1_420_469_224, weights.ParameterCount);
        Assert.Equal(new UNetDims(1280, 32, 64, 1024, 2), unet.Dims);
        Assert.Equal(5, unet.Dims.HeadsFor(320));
        Assert.Equal(20, unet.Dims.HeadsFor(1280));
    }

    [Fact]
    public void A_config_that_disagrees_with_the_file_names_the_key_and_both_shapes()
    {
        var folder = Fixtures.TempFolder("release-unet-wrong");
        var configPath = Path.Combine(folder, "config.json");
        File.WriteAllText(configPath, ReleaseConfig.Replace("\"cross_attention_dim\": 1024", "\"cross_attention_dim\": 768", StringComparison.Ordinal));
        using var weights = ShapeOnly.FromManifest("unet", WeightManifest.Load(Fixtures.Path("release-layout", "unet.json")));
        var e = Assert.Throws<ModelFileException>(() => I2VGenXLUNet.Load(new BindingOnlyOps(), weights, UNetConfig.Load(configPath)));
        Assert.Contains("768", e.Message, StringComparison.Ordinal);
        Assert.Contains("1024", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Weights_the_model_does_not_use_are_listed()
    {
        var folder = Fixtures.ComponentModel("unet-tiny");
        var manifest = WeightManifest.Load(Fixtures.Path("unet-tiny", "weights-manifest.json"));
        var extra = manifest.Entries.Select(e => new KeyValuePair<string, CudaI2V.Runtime.Tensors.Tensor>(e.Key, ShapeOnly.FromManifest("unet", manifest).Take(e.Key)))
            .Append(new("down_blocks.9.resnets.0.conv1.weight", CudaI2V.Runtime.Tensors.Tensor.Zeros(CudaI2V.Runtime.Tensors.DType.F32, new(1))));
        using var weights = WeightSet.FromTensors("unet", extra);
        var e = Assert.Throws<ModelFileException>(() => I2VGenXLUNet.Load(new BindingOnlyOps(), weights, UNetConfig.Load(Path.Combine(folder, "config.json"))));
        Assert.Contains("down_blocks.9.resnets.0.conv1.weight", e.Message, StringComparison.Ordinal);
    }
}
