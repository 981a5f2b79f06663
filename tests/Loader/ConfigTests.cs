using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Loader;

/// <summary>Config parsing of every fixture folder, defaults, the head-dimension rule and unknown keys.</summary>
public sealed class ConfigTests
{
    private readonly string _dir = Fixtures.TempFolder("configs");

    [Fact]
    public void Pipeline_tiny_configs_parse_with_their_values()
    {
        var model = ModelDirectory.Open(Fixtures.Path("pipeline-tiny", "model"));
        Assert.True(model.IsPipeline);
        Assert.Equal("I2VGenXLPipeline", model.Index!.ClassName);
        Assert.Equal(7, model.Components.Count);

        var unet = model.UNet;
        Assert.Equal([32, 64, 64], unet.BlockOutChannels);
        Assert.Equal(["CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "DownBlock3D"], unet.DownBlockTypes);
        Assert.Equal(8, unet.NormNumGroups);
        Assert.Equal(8, unet.AttentionHeadDim);
        Assert.Equal(32, unet.CrossAttentionDim);
        Assert.Empty(unet.UnknownKeys);

        var vae = model.Vae;
        Assert.Equal([32, 64], vae.BlockOutChannels);
        Assert.Equal(0.18125, vae.ScalingFactor);
        Assert.Equal(2, vae.ScaleFactor);
        Assert.True(vae.ForceUpcast);
        Assert.True(vae.UseQuantConv);

        var text = model.TextEncoder;
        Assert.Equal((32, 3, 4, 534, 77), (text.HiddenSize, text.NumHiddenLayers, text.NumAttentionHeads, text.VocabSize, text.MaxPositionEmbeddings));
        Assert.Equal(ClipActivation.Gelu, text.HiddenAct);
        Assert.Empty(text.UnknownKeys);

        var vision = model.ImageEncoder;
        Assert.Equal((32, 4, 65, 32), (vision.ImageSize, vision.PatchSize, vision.NumPositions, vision.ProjectionDim));

        var tokenizer = model.Tokenizer;
        Assert.Equal(("!", "<|startoftext|>", "<|endoftext|>", 77), (tokenizer.PadToken, tokenizer.BosToken, tokenizer.EosToken, tokenizer.ModelMaxLength));
        Assert.NotNull(tokenizer.TokenizerJsonPath);

        var features = model.FeatureExtractor;
        Assert.Equal((32, 32), (features.CropHeight, features.CropWidth));
        Assert.Equal([0.48145466, 0.4578275, 0.40821073], features.ImageMean);

        var scheduler = model.Scheduler;
        Assert.Equal(BetaSchedule.SquaredCosCapV2, scheduler.BetaSchedule);
        Assert.Equal(PredictionType.VPrediction, scheduler.PredictionType);
    }

    [Theory]
    [InlineData("unet-tiny", 3, 8)]
    [InlineData("unet-odd", 4, 8)]
    public void Unet_fixture_configs_parse(string name, int levels, int headDim)
    {
        var config = UNetConfig.Load(Fixtures.Path(name, "model", "config.json"));
        Assert.Equal(levels, config.BlockOutChannels.Count);
        Assert.Equal(headDim, config.AttentionHeadDim);
        Assert.Equal("attention_head_dim", config.HeadDimSource);
    }

    [Fact]
    public void Vae_fixture_config_parses()
    {
        var config = VaeConfig.Load(Fixtures.Path("vae-tiny", "model", "config.json"));
        Assert.Equal(4, config.LatentChannels);
        Assert.Equal(2, config.LayersPerBlock);
    }

    [Fact]
    public void Vae_force_upcast_defaults_to_true_like_diffusers()
    {
        var json = File.ReadAllText(Fixtures.Path("vae-tiny", "model", "config.json"));
        var omitted = json.Replace("\"force_upcast\": true,", "", StringComparison.Ordinal);
        Assert.DoesNotContain("force_upcast", omitted, StringComparison.Ordinal);
        Assert.True(VaeConfig.Load(Write("config.json", omitted)).ForceUpcast);
        Assert.False(VaeConfig.Load(Write("config.json", json.Replace("\"force_upcast\": true", "\"force_upcast\": false", StringComparison.Ordinal))).ForceUpcast);
    }

    [Fact]
    public void Scheduler_variants_take_diffusers_defaults_for_omitted_keys()
    {
        var release = SchedulerConfig.Load(Fixtures.Path("scheduler", "release", "scheduler_config.json"));
        Assert.Equal((BetaSchedule.SquaredCosCapV2, PredictionType.VPrediction, TimestepSpacing.Leading), (release.BetaSchedule, release.PredictionType, release.TimestepSpacing));
        Assert.Equal((1, true, false, true), (release.StepsOffset, release.RescaleBetasZeroSnr, release.ClipSample, release.SetAlphaToOne));

        var sd = SchedulerConfig.Load(Fixtures.Path("scheduler", "sd-epsilon", "scheduler_config.json"));
        Assert.Equal((BetaSchedule.ScaledLinear, 0.00085, 0.012, PredictionType.Epsilon), (sd.BetaSchedule, sd.BetaStart, sd.BetaEnd, sd.PredictionType));
        Assert.Equal((1, false, false), (sd.StepsOffset, sd.SetAlphaToOne, sd.ClipSample));

        var linear = SchedulerConfig.Load(Fixtures.Path("scheduler", "linear-trailing-clip", "scheduler_config.json"));
        Assert.Equal((BetaSchedule.Linear, TimestepSpacing.Trailing, PredictionType.Epsilon), (linear.BetaSchedule, linear.TimestepSpacing, linear.PredictionType));
        Assert.True(linear.ClipSample); // clip_sample defaults to true when a file omits it
        Assert.Equal((0, true, false, 1.0, 1000, 0.0001, 0.02), (linear.StepsOffset, linear.SetAlphaToOne, linear.RescaleBetasZeroSnr, linear.ClipSampleRange, linear.NumTrainTimesteps, linear.BetaStart, linear.BetaEnd));

        var cosine = SchedulerConfig.Load(Fixtures.Path("scheduler", "cosine-linspace-v", "scheduler_config.json"));
        Assert.Equal((BetaSchedule.SquaredCosCapV2, TimestepSpacing.Linspace, PredictionType.VPrediction, true), (cosine.BetaSchedule, cosine.TimestepSpacing, cosine.PredictionType, cosine.RescaleBetasZeroSnr));
        Assert.Null(cosine.ClassName);
        Assert.False(cosine.Thresholding);
    }

    [Fact]
    public void Unsupported_scheduler_values_are_named()
    {
        var path = Write("scheduler_config.json", """{"beta_schedule": "sigmoid"}""");
        var e = Assert.Throws<ModelFileException>(() => SchedulerConfig.Load(path));
        Assert.Contains("'beta_schedule' is \"sigmoid\"", e.Message, StringComparison.Ordinal);
        Assert.Contains("\"scaled_linear\"", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Head_dim_from_attention_head_dim_alone()
    {
        var config = UNetConfig.Load(WriteUnet("\"attention_head_dim\": 16"));
        Assert.Equal((16, "attention_head_dim"), (config.AttentionHeadDim, config.HeadDimSource));
        Assert.Empty(config.Notes);
    }

    [Fact]
    public void Head_dim_from_the_older_num_attention_heads_is_noted()
    {
        var config = UNetConfig.Load(WriteUnet("\"num_attention_heads\": 64"));
        Assert.Equal((64, "num_attention_heads"), (config.AttentionHeadDim, config.HeadDimSource));
        Assert.Contains(config.Notes, n => n.Contains("num_attention_heads", StringComparison.Ordinal));
    }

    [Fact]
    public void Head_dim_defaults_to_64_and_both_equal_are_fine()
    {
        Assert.Equal((64, "default"), (UNetConfig.Load(WriteUnet("\"layers_per_block\": 2")).AttentionHeadDim, "default"));
        Assert.Equal(64, UNetConfig.Load(WriteUnet("\"attention_head_dim\": 64, \"num_attention_heads\": 64")).AttentionHeadDim);
    }

    [Fact]
    public void Head_dim_disagreement_is_an_error_naming_both()
    {
        var e = Assert.Throws<ModelFileException>(() => UNetConfig.Load(WriteUnet("\"attention_head_dim\": 64, \"num_attention_heads\": 8")));
        Assert.Contains("'attention_head_dim' is 64", e.Message, StringComparison.Ordinal);
        Assert.Contains("'num_attention_heads' is 8", e.Message, StringComparison.Ordinal);
        Assert.Throws<ModelFileException>(() => UNetConfig.Load(WriteUnet("\"attention_head_dim\": [8, 16]")));
    }

    [Fact]
    public void Unknown_keys_are_kept_and_reported()
    {
        var config = UNetConfig.Load(WriteUnet("\"attention_head_dim\": 8, \"use_magic\": true, \"new_list\": [1, 2]"));
        Assert.Equal("true", config.UnknownKeys["use_magic"]);
        Assert.Equal("[1, 2]", config.UnknownKeys["new_list"]);
        Assert.Equal(2, config.UnknownKeys.Count);
    }

    [Fact]
    public void Missing_required_fields_and_wrong_types_are_named()
    {
        var path = Write("config.json", """{"_class_name": "I2VGenXLUNet", "down_block_types": ["DownBlock3D"], "up_block_types": ["UpBlock3D"]}""");
        var e = Assert.Throws<ModelFileException>(() => UNetConfig.Load(path));
        Assert.Contains("'block_out_channels'", e.Message, StringComparison.Ordinal);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);

        var wrongType = Write("config.json", """{"block_out_channels": "320", "down_block_types": ["DownBlock3D"], "up_block_types": ["UpBlock3D"]}""");
        Assert.Contains("a list of integers", Assert.Throws<ModelFileException>(() => UNetConfig.Load(wrongType)).Message, StringComparison.Ordinal);

        var badJson = Write("config.json", "{ nope");
        Assert.Contains("not valid JSON", Assert.Throws<ModelFileException>(() => UNetConfig.Load(badJson)).Message, StringComparison.Ordinal);

        var badBlock = Write("config.json", """{"block_out_channels": [32], "down_block_types": ["DownBlock2D"], "up_block_types": ["UpBlock3D"], "norm_num_groups": 8}""");
        Assert.Contains("DownBlock2D", Assert.Throws<ModelFileException>(() => UNetConfig.Load(badBlock)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Clip_configs_refuse_unknown_activations_and_indivisible_heads()
    {
        var act = Write("config.json", """{"architectures": ["CLIPTextModel"], "hidden_act": "relu"}""");
        Assert.Contains("hidden_act", Assert.Throws<ModelFileException>(() => ClipTextConfig.Load(act)).Message, StringComparison.Ordinal);
        var heads = Write("config.json", """{"hidden_size": 30, "num_attention_heads": 4}""");
        Assert.Throws<ModelFileException>(() => ClipVisionConfig.Load(heads));
        var defaults = ClipTextConfig.Load(Write("config.json", "{}"));
        Assert.Equal((512, ClipActivation.QuickGelu, 49407), (defaults.HiddenSize, defaults.HiddenAct, defaults.EosTokenId));
    }

    [Fact]
    public void Tokenizer_tokens_may_be_objects_and_special_tokens_map_wins()
    {
        var folder = Path.Combine(_dir, "tok");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "vocab.json"), "{}");
        File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\n");
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), """{"pad_token": {"content": "<pad>"}, "model_max_length": 1e30}""");
        var config = TokenizerConfig.Load(folder);
        Assert.Equal("<pad>", config.PadToken);
        Assert.Equal(77, config.ModelMaxLength);
        Assert.NotEmpty(config.Notes);
        File.WriteAllText(Path.Combine(folder, "special_tokens_map.json"), """{"pad_token": "<|endoftext|>"}""");
        Assert.Equal("<|endoftext|>", TokenizerConfig.Load(folder).PadToken);
        File.Delete(Path.Combine(folder, "merges.txt"));
        Assert.Contains("merges.txt", Assert.Throws<ModelFileException>(() => TokenizerConfig.Load(folder)).Message, StringComparison.Ordinal);
    }

    private string WriteUnet(string extra) => Write(
        "config.json",
        "{\"_class_name\": \"I2VGenXLUNet\", \"block_out_channels\": [32, 64], \"down_block_types\": [\"CrossAttnDownBlock3D\", \"DownBlock3D\"], "
        + "\"up_block_types\": [\"UpBlock3D\", \"CrossAttnUpBlock3D\"], \"norm_num_groups\": 8, " + extra + "}");

    private string Write(string name, string json)
    {
        var folder = Path.Combine(_dir, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, name);
        File.WriteAllText(path, json);
        return path;
    }
}
