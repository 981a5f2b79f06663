using CudaI2V.Cli;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Support.CliRunner;

namespace CudaI2V.Tests.Layers;

/// <summary><c>cudai2v verify image-encoder</c> against transformers' outputs, and its exit codes for bad input.</summary>
public sealed class VerifyImageEncoderTests
{
    private static string IoFile => Fixtures.Path("pipeline-tiny", "image-encoder-io.safetensors");


    [Fact]
    public void Verify_image_encoder_passes_on_the_reference_file()
    {
        var (code, output, error) = Run("verify", "image-encoder", "--model", Fixtures.PipelineTiny, "--io", IoFile);
        var lines = output.TrimEnd().Split('\n');
        Assert.True(code == ExitCodes.Success, output + error);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("image_embeds [2, 32]: ", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("last_hidden_state [2, 65, 32]: ", lines[1], StringComparison.Ordinal);
        Assert.Matches(@"^max_abs=\d\.\d{3}e[-+]\d\d max_rel=\d\.\d{3}e[-+]\d\d nmse=\d\.\d{3}e[-+]\d\d PASS$", lines[^1]);
        Assert.Contains("image-encoder on cpu", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_accepts_the_image_encoder_folder_itself()
    {
        var folder = Path.Combine(Fixtures.PipelineTiny, "image_encoder");
        var (code, output, error) = Run("verify", "image-encoder", "--model", folder, "--io", IoFile);
        Assert.True(code == ExitCodes.Success, output + error);
        Assert.EndsWith("PASS", output.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_tolerance_below_the_error_fails_with_exit_code_1()
    {
        var (code, output, _) = Run("verify", "image-encoder", "--model", Fixtures.PipelineTiny, "--io", IoFile, "--tolerance", "1e-12");
        Assert.Equal(ExitCodes.Failed, code);
        Assert.EndsWith("FAIL", output.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_tensor_exits_3_naming_it_and_its_expected_shape()
    {
        var missing = WriteVariant("missing", all => all.Where(p => p.Key != "last_hidden_state"));
        var (code, _, error) = Run("verify", "image-encoder", "--model", Fixtures.PipelineTiny, "--io", missing);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("no tensor 'last_hidden_state'", error, StringComparison.Ordinal);
        Assert.Contains("(B, tokens, hidden_size) [2, 65, 32]", error, StringComparison.Ordinal);

        missing = WriteVariant("no-pixels", all => all.Where(p => p.Key != "pixel_values"));
        (code, _, error) = Run("verify", "image-encoder", "--model", Fixtures.PipelineTiny, "--io", missing);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("no tensor 'pixel_values' (expected (B, 3, 32, 32))", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(2, 4, 32, 32)]
    [InlineData(2, 3, 28, 28)]
    [InlineData(2, 3, 32, 28)]
    public void Pixels_of_the_wrong_shape_exit_3_naming_the_expected_shape(int n, int c, int h, int w)
    {
        var wrong = WriteVariant($"pixels-{c}-{h}-{w}", all => all.Select(p => p.Key == "pixel_values"
            ? new KeyValuePair<string, Tensor>(p.Key, Tensor.Zeros(DType.F32, new TensorShape(n, c, h, w)))
            : p));
        var (code, _, error) = Run("verify", "image-encoder", "--model", Fixtures.PipelineTiny, "--io", wrong);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains($"'pixel_values' has shape [{n}, {c}, {h}, {w}]; expected (B, 3, 32, 32)", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Pixels_of_the_wrong_rank_exit_3()
    {
        var wrong = WriteVariant("pixels-rank3", all => all.Select(p => p.Key == "pixel_values"
            ? new KeyValuePair<string, Tensor>(p.Key, Tensor.Zeros(DType.F32, new TensorShape(3, 32, 32)))
            : p));
        var (code, _, error) = Run("verify", "image-encoder", "--model", Fixtures.PipelineTiny, "--io", wrong);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("'pixel_values' has shape [3, 32, 32]; expected (B, 3, 32, 32)", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Expected_outputs_of_the_wrong_shape_exit_3()
    {
        var wrong = WriteVariant("embeds", all => all.Select(p => p.Key == "image_embeds"
            ? new KeyValuePair<string, Tensor>(p.Key, Tensor.Zeros(DType.F32, new TensorShape(2, 16)))
            : p));
        var (code, _, error) = Run("verify", "image-encoder", "--model", Fixtures.PipelineTiny, "--io", wrong);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("'image_embeds' has shape [2, 16]; expected (B, projection_dim) [2, 32]", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_folder_without_an_image_encoder_exits_3()
    {
        var (code, _, error) = Run("verify", "image-encoder", "--model", Fixtures.ComponentModel("unet-tiny"), "--io", IoFile);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("no image_encoder", error, StringComparison.Ordinal);

        var pipeline = Fixtures.TempFolder("pipeline-no-image-encoder");
        Fixtures.CopyTree(Fixtures.Path("pipeline-tiny", "model"), pipeline);
        var index = Path.Combine(pipeline, "model_index.json");
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(index))!.AsObject();
        Assert.True(json.Remove("image_encoder"));
        File.WriteAllText(index, json.ToJsonString());
        (code, _, error) = Run("verify", "image-encoder", "--model", pipeline, "--io", IoFile);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("lists no 'image_encoder' component", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_weight_file_missing_a_tensor_exits_3_naming_the_key()
    {
        var folder = Fixtures.TempFolder("image-encoder-missing-weight");
        Fixtures.CopyTree(Path.Combine(Fixtures.PipelineTiny, "image_encoder"), folder);
        var file = Directory.GetFiles(folder, "*.safetensors").Single();
        Dictionary<string, Tensor> all;
        using (var weights = SafetensorsFile.Open(file))
        {
            all = weights.Names.ToDictionary(n => n, n => weights.GetTensor(n).To(weights.GetTensor(n).DType));
        }

        SafetensorsWriter.Write(file, all.Where(p => p.Key != "vision_model.encoder.layers.1.mlp.fc2.bias"));
        var (code, _, error) = Run("verify", "image-encoder", "--model", folder, "--io", IoFile);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("'vision_model.encoder.layers.1.mlp.fc2.bias' is missing", error, StringComparison.Ordinal);
    }

    private static string WriteVariant(string name, Func<IEnumerable<KeyValuePair<string, Tensor>>, IEnumerable<KeyValuePair<string, Tensor>>> change)
    {
        using var io = SafetensorsFile.Open(IoFile);
        var all = io.Names.ToDictionary(n => n, n => io.GetTensor(n).To(io.GetTensor(n).DType));
        var path = Path.Combine(Fixtures.TempFolder("verify-image-encoder"), name + ".safetensors");
        SafetensorsWriter.Write(path, change(all));
        return path;
    }
}
