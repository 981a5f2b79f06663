using CudaI2V.Cli;
using CudaI2V.Kernels;
using CudaI2V.Kernels.Cpu;
using CudaI2V.Layers.Vae;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Layers;

/// <summary>
/// The VAE against diffusers: every module recorded in vae-tiny/blocks.safetensors, <c>verify vae-encode</c> and
/// <c>vae-decode</c> on vae-tiny/io.safetensors, and the release's VAE binding by name and shape.
/// </summary>
public sealed class VaeTests : IClassFixture<VaeTests.Model>
{
    private const double Tolerance = 1e-4;

    /// <summary>The release VAE's config.json (docs/i2vgenxl-spec.md section 1.3).</summary>
    public const string ReleaseConfig = """
        {"_class_name": "AutoencoderKL", "act_fn": "silu", "block_out_channels": [128, 256, 512, 512],
         "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
         "force_upcast": true, "in_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32,
         "out_channels": 3, "sample_size": 768, "scaling_factor": 0.18125,
         "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"]}
        """;
    private readonly Model _m;

    public VaeTests(Model model) => _m = model;

    private IOps Ops => _m.Ops;

    [Theory]
    [MemberData(nameof(VaeBlocks.Modules), MemberType = typeof(VaeBlocks))]
    public void Module_matches_diffusers(string module)
    {
        var result = _m.Run(module).Compare();
        Assert.True(result.Passes(Tolerance), $"{module}: {result}");
    }

    [Fact]
    public void Recorded_inputs_are_the_generated_ones()
    {
        Assert.Equal(FixtureWeights.Input("blocks.image", new TensorShape(1, 3, 24, 32), 1f).ToFloat32Array(), _m.Recording.Raw("input.blocks.image").ToFloat32Array());
        Assert.Equal(FixtureWeights.Input("blocks.latents", new TensorShape(1, 4, 12, 16)).ToFloat32Array(), _m.Recording.Raw("input.blocks.latents").ToFloat32Array());
    }

    [Fact]
    public void Decoding_in_chunks_equals_decoding_at_once()
    {
        var latents = Ops.FromHost(FixtureWeights.Input("chunk.latents", new TensorShape(3, 6, 8, 4)));
        var whole = Ops.ToHost(_m.Vae.Decode(latents));
        var chunked = Ops.ToHost(_m.Vae.Decode(latents, chunk: 2));
        Assert.Equal(whole.ToFloat32Array(), chunked.ToFloat32Array());

        // The planned GPU decode pads a short last chunk with zero latents and drops their images: frames are independent.
        var padded = Ops.ToHost(_m.Vae.Decode(Ops.Concat([latents, Ops.FromHost(Tensor.Zeros(DType.F32, new TensorShape(2, 6, 8, 4)))], axis: 0)));
        Assert.Equal(whole.ToFloat32Array(), padded.Slice(0, 0, 3).Contiguous().ToFloat32Array());
    }

    [Theory]
    [InlineData("vae-encode", "encode.mean")]
    [InlineData("vae-decode", "decode.output")]
    public void Verify_passes_on_the_reference_file(string component, string firstLine)
    {
        var (code, output, error) = Cli(component, Fixtures.ComponentModel("vae-tiny"), Fixtures.Path("vae-tiny", "io.safetensors"));
        Assert.True(code == ExitCodes.Success, output + error);
        Assert.StartsWith(firstLine, output, StringComparison.Ordinal);
        Assert.EndsWith("PASS", output.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_refuses_wrong_inputs_with_exit_code_3()
    {
        var dir = Fixtures.TempFolder("vae-verify");
        var io = Path.Combine(dir, "io.safetensors");
        SafetensorsWriter.Write(io, [new("encode.input", Tensor.Zeros(DType.F32, new TensorShape(1, 3, 41, 56)))]);
        var (code, _, error) = Cli("vae-encode", Fixtures.ComponentModel("vae-tiny"), io);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("multiples of 2", error, StringComparison.Ordinal);

        SafetensorsWriter.Write(io, [new("decode.input", Tensor.Zeros(DType.F32, new TensorShape(1, 4, 5, 5)))]);
        (code, _, error) = Cli("vae-decode", Fixtures.ComponentModel("vae-tiny"), io);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("'decode.output'", error, StringComparison.Ordinal);

        (code, _, error) = Cli("vae-decode", Fixtures.ComponentModel("unet-tiny"), Fixtures.Path("vae-tiny", "io.safetensors"));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("no vae", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Release_vae_takes_every_key_of_the_release_file_exactly()
    {
        var folder = Fixtures.TempFolder("release-vae");
        var configPath = Path.Combine(folder, "config.json");
        File.WriteAllText(configPath, ReleaseConfig);
        using var weights = ShapeOnly.FromManifest("vae", WeightManifest.Load(Fixtures.Path("release-layout", "vae.json")), WeightAliases.LegacyVaeAttention);
        var vae = AutoencoderKL.Load(new BindingOnlyOps(), weights, VaeConfig.Load(configPath));
        Assert.Empty(weights.Unused);
        Assert.Equal(83_653_863, weights.ParameterCount);
        Assert.Equal(8, vae.ScaleFactor);
    }

    [Fact]
    public void Legacy_attention_names_bind_through_the_alias_map()
    {
        var manifest = WeightManifest.Load(Fixtures.Path("vae-tiny", "weights-manifest.json"));
        var legacy = FixtureWeights.FromManifest("vae", manifest)
            .Select(p => new KeyValuePair<string, Tensor>(
                p.Key.Replace(".attentions.0.to_q.", ".attentions.0.query.", StringComparison.Ordinal)
                    .Replace(".attentions.0.to_k.", ".attentions.0.key.", StringComparison.Ordinal)
                    .Replace(".attentions.0.to_v.", ".attentions.0.value.", StringComparison.Ordinal)
                    .Replace(".attentions.0.to_out.0.", ".attentions.0.proj_attn.", StringComparison.Ordinal),
                p.Value));
        using var weights = WeightSet.FromTensors("vae", legacy, WeightAliases.LegacyVaeAttention);
        Assert.Contains("encoder.mid_block.attentions.0.query.weight", weights.Keys);
        var vae = AutoencoderKL.Load(Ops, weights, _m.Vae.Config);
        var latents = Ops.FromHost(FixtureWeights.Input("legacy.latents", new TensorShape(1, 4, 4, 4)));
        Assert.Equal(Ops.ToHost(_m.Vae.Decode(latents)).ToFloat32Array(), Ops.ToHost(vae.Decode(latents)).ToFloat32Array());
    }

    private static (int Code, string Out, string Err) Cli(string component, string model, string io) =>
        CliRunner.Run("verify", component, "--model", model, "--io", io);

    /// <summary>The tiny VAE and its recorded modules on the CPU.</summary>
    public sealed class Model : IDisposable
    {
        private readonly VaeBlocks _blocks = new(new CpuOps());

        public IOps Ops => _blocks.Ops;

        public AutoencoderKL Vae => _blocks.Vae;

        public RecordedModules Recording => _blocks.Recording;

        public ModuleOutput Run(string module) => _blocks.Run(module);

        public void Dispose() => _blocks.Dispose();
    }
}
