using System.Security.Cryptography;
using CudaI2V.Loader;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Loader;

/// <summary>The generator against the fixtures' README example, every manifest's SHA-256 and every io file's inputs.</summary>
public sealed class FixtureWeightsTests
{
    [Fact]
    public void Reproduces_the_worked_example_of_the_fixture_readme()
    {
        Assert.Equal(1337668298941075077UL, FixtureWeights.Fnv1a64("unet.conv_in.weight"));
        var hash = FixtureWeights.Fnv1a64("unet.conv_in.weight");
        Assert.Equal(new[] { -0.23882389f, -0.67273510f, 0.31585705f, -0.50203824f }, Enumerable.Range(0, 4).Select(i => FixtureWeights.Uniform(hash, i)));
        var weights = FixtureWeights.Parameter("unet", "conv_in.weight", new TensorShape(32, 8, 3, 3));
        // The README prints 8 decimals; the exact bits are proven by the manifest hashes below.
        var printed = new[] { -0.04874972, -0.13732149, 0.06447405, -0.10247813 };
        Assert.All(printed.Zip(weights), p => Assert.True(Math.Abs(p.First - p.Second) < 1e-8, $"{p.First} vs {p.Second}"));
    }

    [Theory]
    [InlineData("down_blocks.0.resnets.0.norm1.weight", 0.1f, 1f)]
    [InlineData("down_blocks.0.temp_convs.0.conv1.0.weight", 0.05f, 0f)] // no "norm" in the key: scale 0.05, offset 0
    [InlineData("conv_in.bias", 0.05f, 0f)]
    [InlineData("norm.bias", 0.05f, 0f)]
    public void One_dimensional_parameters_follow_the_name_rule(string key, float scale, float offset)
    {
        Assert.Equal((scale, offset), FixtureWeights.ParameterScale(key, new TensorShape(32)));
    }

    public static TheoryData<string, string> Manifests() => new()
    {
        { "unet", "unet-tiny/weights-manifest.json" },
        { "unet", "unet-odd/weights-manifest.json" },
        { "vae", "vae-tiny/weights-manifest.json" },
        { "unet", "pipeline-tiny/manifests/unet.json" },
        { "vae", "pipeline-tiny/manifests/vae.json" },
        { "text_encoder", "pipeline-tiny/manifests/text_encoder.json" },
        { "image_encoder", "pipeline-tiny/manifests/image_encoder.json" },
    };

    [Theory]
    [MemberData(nameof(Manifests))]
    public void Regenerated_weights_match_every_manifest_hash(string component, string manifestPath)
    {
        var manifest = WeightManifest.Load(Fixtures.Path(manifestPath.Split('/')));
        Assert.NotEmpty(manifest.Entries);
        var mismatches = new List<string>();
        foreach (var (entry, (key, tensor)) in manifest.Entries.Zip(FixtureWeights.FromManifest(component, manifest)))
        {
            Assert.Equal(entry.Key, key);
            var sha = Convert.ToHexStringLower(SHA256.HashData(tensor.AsBytes()));
            if (sha != entry.Sha256)
            {
                mismatches.Add(key);
            }
        }

        Assert.True(mismatches.Count == 0, $"{mismatches.Count} tensors differ, first: {string.Join(", ", mismatches.Take(5))}");
    }

    [Fact]
    public void Tiny_unet_manifest_has_the_documented_parameter_counts()
    {
        Assert.Equal(3_663_400, WeightManifest.Load(Fixtures.Path("unet-tiny", "weights-manifest.json")).ParameterCount);
        Assert.Equal(4_125_096, WeightManifest.Load(Fixtures.Path("unet-odd", "weights-manifest.json")).ParameterCount);
    }

    public static TheoryData<string, string, string, float> Inputs() => new()
    {
        { "unet-tiny/io.safetensors", "input.sample", "sample", FixtureWeights.InputScale },
        { "unet-tiny/io.safetensors", "input.image_latents", "image_latents", FixtureWeights.InputScale },
        { "unet-tiny/io.safetensors", "input.image_embeddings", "image_embeddings", FixtureWeights.InputScale },
        { "unet-tiny/io.safetensors", "input.encoder_hidden_states", "encoder_hidden_states", FixtureWeights.InputScale },
        { "unet-odd/io.safetensors", "input.sample", "sample", FixtureWeights.InputScale },
        { "unet-odd/io.safetensors", "input.image_latents", "image_latents", FixtureWeights.InputScale },
        { "unet-odd/io.safetensors", "input.image_embeddings", "image_embeddings", FixtureWeights.InputScale },
        { "unet-odd/io.safetensors", "input.encoder_hidden_states", "encoder_hidden_states", FixtureWeights.InputScale },
        { "vae-tiny/io.safetensors", "encode.input", "image", 1f },
        { "vae-tiny/io.safetensors", "decode.input", "latents", FixtureWeights.InputScale },
        { "pipeline-tiny/image-encoder-io.safetensors", "pixel_values", "pixel_values", FixtureWeights.InputScale },
        { "pipeline-tiny/pipeline-io.safetensors", "latents.initial", "latents", FixtureWeights.InputScale },
        { "scheduler/release/steps-30.safetensors", "step0.model_output", "step0.model_output", FixtureWeights.InputScale },
        { "scheduler/sd-epsilon/steps-30.safetensors", "step15.sample", "step15.sample", FixtureWeights.InputScale },
        { "scheduler/cosine-linspace-v/steps-30.safetensors", "step29.model_output", "step29.model_output", FixtureWeights.InputScale },
    };

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Regenerated_inputs_equal_the_io_files(string file, string tensor, string inputName, float scale)
    {
        using var io = SafetensorsFile.Open(Fixtures.Path(file.Split('/')));
        var stored = io.GetTensor(tensor);
        var generated = FixtureWeights.Input(inputName, stored.Shape, scale);
        Assert.Equal(stored.ToFloat32Array(), generated.ToFloat32Array());
    }

    [Fact]
    public void Integer_inputs_of_the_unet_fixtures_are_the_documented_values()
    {
        foreach (var name in new[] { "unet-tiny", "unet-odd" })
        {
            using var io = SafetensorsFile.Open(Fixtures.Path(name, "io.safetensors"));
            Assert.Equal(new long[] { 781 }, io.GetTensor("input.timestep").AsSpan<long>().ToArray());
            Assert.Equal(new long[] { 12, 16 }, io.GetTensor("input.fps").AsSpan<long>().ToArray());
        }
    }

    [Fact]
    public void Release_layout_manifests_list_the_documented_parameter_counts()
    {
        Assert.Equal(1_420_469_224, WeightManifest.Load(Fixtures.Path("release-layout", "unet.json")).ParameterCount);
        Assert.Equal(1511, WeightManifest.Load(Fixtures.Path("release-layout", "unet.json")).Entries.Count);
        Assert.Equal(352_984_064, WeightManifest.Load(Fixtures.Path("release-layout", "text_encoder.json")).ParameterCount);
        Assert.Equal(632_076_800, WeightManifest.Load(Fixtures.Path("release-layout", "image_encoder.json")).ParameterCount);
        Assert.All(WeightManifest.Load(Fixtures.Path("release-layout", "vae.json")).Entries, e => Assert.Equal(DType.F16, e.DType));
    }
}
