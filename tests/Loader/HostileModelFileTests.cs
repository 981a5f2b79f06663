using System.Buffers.Binary;
using System.Text;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Loader;

/// <summary>
/// The families of hostile model files that once escaped as unhandled exceptions: JSON values of the wrong kind,
/// invalid UTF-8 and lone surrogates, weights of a dtype the layers cannot use, and config values in range for
/// JSON but not for the model. Each is refused with a <see cref="ModelFileException"/> naming the file and key.
/// </summary>
public sealed class HostileModelFileTests
{
    private const string OneTensor = "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]";
    private readonly string _dir = Fixtures.TempFolder("hostile");

    public static TheoryData<string, byte[], string> HostileHeaders() => new()
    {
        { "offset a string", Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\"0\",4]}}"u8), "data_offsets" },
        { "offset null", Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,null]}}"u8), "data_offsets" },
        { "offset an array", Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[[0],4]}}"u8), "data_offsets" },
        { "offset an object", Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[{},4]}}"u8), "data_offsets" },
        { "offset a fraction", Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.5,4]}}"u8), "data_offsets" },
        { "shape of strings", Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}"u8), "non-negative integers" },
        { "rank 9", Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}"u8), "more than 8 dimensions" },
        { "invalid UTF-8 in a name", Header([.. "{\"w"u8, 0xFF, .. "\":{"u8, .. Encoding.ASCII.GetBytes(OneTensor), .. "}}"u8]), "not valid UTF-8" },
        { "overlong UTF-8 in a dtype", Header([.. "{\"w\":{\"dtype\":\"F3"u8, 0xC0, 0xB2, .. "\",\"shape\":[1],\"data_offsets\":[0,4]}}"u8]), "not valid UTF-8" },
        { "lone surrogate in a name", Header(Encoding.ASCII.GetBytes("{\"w\\ud800\":{" + OneTensor + "}}")), "cannot be decoded" },
        { "lone surrogate in a dtype", Header("{\"w\":{\"dtype\":\"F32\\udc00\",\"shape\":[1],\"data_offsets\":[0,4]}}"u8), "cannot be decoded" },
        { "lone surrogate in a metadata key", Header(Encoding.ASCII.GetBytes("{\"__metadata__\":{\"k\\ud800\":\"v\"},\"w\":{" + OneTensor + "}}")), "cannot be decoded" },
        { "lone surrogate in a metadata value", Header(Encoding.ASCII.GetBytes("{\"__metadata__\":{\"k\":\"\\ud800\"},\"w\":{" + OneTensor + "}}")), "cannot be decoded" },
        { "nested 100 deep", Header(Encoding.ASCII.GetBytes("{\"w\":" + new string('[', 100) + new string(']', 100) + "}")), "not valid JSON" },
    };

    [Theory]
    [MemberData(nameof(HostileHeaders))]
    public void Hostile_headers_are_refused_naming_the_file(string what, byte[] bytes, string expected)
    {
        var path = Path.Combine(_dir, what.Replace(' ', '-') + ".safetensors");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<ModelFileException>(() => SafetensorsFile.Open(path));
        Assert.Equal(path, e.FilePath);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Weights_relabelled_as_integers_are_refused_by_name()
    {
        // An F32 tensor relabelled I32 of the same size passes the format's rules but no layer can use it.
        var path = Path.Combine(_dir, "relabelled.safetensors");
        File.WriteAllBytes(path, Header("{\"conv_in.weight\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}"u8));
        var e = Assert.Throws<ModelFileException>(() => WeightSet.Open("unet", [path]));
        Assert.Equal("conv_in.weight", e.TensorName);
        Assert.Contains("is I32", e.Message, StringComparison.Ordinal);

        // An integer buffer the models never bind (position_ids) stays allowed.
        File.WriteAllBytes(path, Header("{\"embeddings.position_ids\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}"u8));
        using var weights = WeightSet.Open("text_encoder", [path]);
        Assert.Equal(1, weights.Count);
    }

    public static TheoryData<string, string, string, string> HostileConfigs() => new()
    {
        { "unet/config.json", "norm_num_groups", "0", "from 1 to 65536" },
        { "unet/config.json", "norm_num_groups", "2147483647", "from 1 to 65536" },
        { "unet/config.json", "layers_per_block", "-1", "from 1 to 16" },
        { "unet/config.json", "block_out_channels", "[2147483647, 64, 64]", "from 1 to 65536" },
        { "unet/config.json", "in_channels", "0", "from 1 to 64" },
        { "vae/config.json", "scaling_factor", "0", "above 1E-06" },
        { "vae/config.json", "latent_channels", "-4", "from 1 to 64" },
        { "vae/config.json", "latents_std", "[1, 0, 1, 1]", "positive numbers" },
        { "text_encoder/config.json", "vocab_size", "0", "from 1 to 1000000" },
        { "text_encoder/config.json", "max_position_embeddings", "2147483647", "from 1 to 4096" },
        { "text_encoder/config.json", "eos_token_id", "534", "from 0 to 533" },
        { "text_encoder/config.json", "layer_norm_eps", "0", "above 0" },
        { "image_encoder/config.json", "image_size", "0", "from 1 to 4096" },
        { "image_encoder/config.json", "patch_size", "64", "from 1 to 32" },
        { "image_encoder/config.json", "num_hidden_layers", "2147483647", "from 1 to 256" },
        { "feature_extractor/preprocessor_config.json", "crop_size", "{\"height\": \"32\", \"width\": 32}", "integer from 1 to 16384" },
        { "feature_extractor/preprocessor_config.json", "size", "{\"shortest_edge\": \"32\"}", "integer from 1 to 16384" },
        { "feature_extractor/preprocessor_config.json", "crop_size", "0", "integer from 1 to 16384" },
        { "scheduler/scheduler_config.json", "num_train_timesteps", "0", "from 1 to 100000" },
        { "scheduler/scheduler_config.json", "steps_offset", "-1", "from 0 to 999" },
        { "scheduler/scheduler_config.json", "beta_end", "1e400", "a finite number" },
    };

    [Theory]
    [MemberData(nameof(HostileConfigs))]
    public void Config_values_the_model_cannot_use_are_refused_with_file_key_and_range(string file, string key, string value, string expected)
    {
        var root = PipelineWith(file, key, value);
        var path = Path.Combine(root, file);
        var e = Assert.Throws<ModelFileException>(() =>
        {
            var model = ModelDirectory.Open(root);
            foreach (var component in model.Components)
            {
                _ = component.Config;
            }
        });
        Assert.Equal(path, e.FilePath);
        Assert.Contains($"'{key}'", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_crop_size_other_than_the_image_encoders_input_is_refused_naming_both()
    {
        var root = PipelineWith("feature_extractor/preprocessor_config.json", "crop_size", "48");
        var e = Assert.Throws<ModelFileException>(() => PipelineChecks.Check(ModelDirectory.Open(root)));
        Assert.Contains("'crop_size' is 48x48", e.Message, StringComparison.Ordinal);
        Assert.Contains("'image_size' 32", e.Message, StringComparison.Ordinal);
        PipelineChecks.Check(ModelDirectory.Open(PipelineWith("unet/config.json", "sample_size", "16")));
    }

    [Fact]
    public void Config_files_that_are_not_regular_files_or_not_UTF8_are_refused()
    {
        var root = PipelineWith("unet/config.json", "sample_size", "32");
        var config = Path.Combine(root, "unet", "config.json");
        File.WriteAllBytes(config, [.. "{\"_class_name\": \"I2VGen"u8, 0xFE, .. "\"}"u8]);
        Assert.Contains("not valid UTF-8", Assert.Throws<ModelFileException>(() => UNetConfig.Load(config)).Message, StringComparison.Ordinal);
        File.WriteAllBytes(config, []);
        Assert.Contains("not a regular file", Assert.Throws<ModelFileException>(() => UNetConfig.Load(config)).Message, StringComparison.Ordinal);
    }

    /// <summary>A copy of the tiny pipeline's configs with <paramref name="key"/> of <paramref name="file"/> set to the JSON <paramref name="value"/>.</summary>
    private string PipelineWith(string file, string key, string value)
    {
        var root = Path.Combine(_dir, Guid.NewGuid().ToString("N"));
        Fixtures.CopyTree(Fixtures.Path("pipeline-tiny", "model"), root);
        var path = Path.Combine(root, file);
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        node[key] = System.Text.Json.Nodes.JsonNode.Parse(value);
        File.WriteAllText(path, node.ToJsonString());
        return root;
    }

    private static byte[] Header(ReadOnlySpan<byte> json)
    {
        var bytes = new byte[8 + json.Length + 4];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes.AsSpan(8));
        return bytes;
    }
}
