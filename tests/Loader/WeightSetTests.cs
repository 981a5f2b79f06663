using CudaI2V.Loader;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Loader;

public sealed class WeightSetTests
{
    private static WeightSet Make(params string[] keys) =>
        WeightSet.FromTensors("vae", keys.Select(k => new KeyValuePair<string, Tensor>(k, Tensor.Zeros(DType.F32, new TensorShape(2, 2)))), WeightAliases.LegacyVaeAttention);

    [Fact]
    public void Taking_marks_keys_used_and_unused_keys_are_listed()
    {
        using var set = Make("a.weight", "a.bias", "b.weight");
        set.Take("a.weight");
        set.Take("a.bias", new TensorShape(2, 2));
        Assert.Equal(["b.weight"], set.Unused);
        var e = Assert.Throws<ModelFileException>(set.EnsureAllUsed);
        Assert.Contains("b.weight", e.Message, StringComparison.Ordinal);
        set.Take("b.weight");
        set.EnsureAllUsed();
    }

    [Fact]
    public void Missing_key_lists_the_nearest_names()
    {
        using var set = Make("decoder.conv_in.weight", "decoder.conv_in.bias", "encoder.conv_out.weight");
        var e = Assert.Throws<ModelFileException>(() => set.Take("decoder.conv_in.wieght"));
        Assert.Contains("Nearest names: decoder.conv_in.weight", e.Message, StringComparison.Ordinal);
        Assert.Equal("decoder.conv_in.wieght", e.TensorName);
    }

    [Fact]
    public void Wrong_shape_names_both_shapes()
    {
        using var set = Make("w");
        var e = Assert.Throws<ModelFileException>(() => set.Take("w", new TensorShape(4)));
        Assert.Contains("[2, 2]", e.Message, StringComparison.Ordinal);
        Assert.Contains("[4]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Position_ids_buffers_are_the_only_keys_allowed_to_stay_unused()
    {
        Assert.Equal(["position_ids"], WeightSet.IgnoredBuffers);
        using var set = Make("text_model.embeddings.position_ids", "vision_model.embeddings.position_ids", "x.weight");
        set.Take("x.weight");
        set.EnsureAllUsed();
        Assert.False(WeightSet.IsIgnoredBuffer("text_model.embeddings.position_embedding.weight"));
    }

    [Theory]
    [InlineData("encoder.mid_block.attentions.0.to_q.weight", "encoder.mid_block.attentions.0.query.weight")]
    [InlineData("encoder.mid_block.attentions.0.to_k.bias", "encoder.mid_block.attentions.0.key.bias")]
    [InlineData("decoder.mid_block.attentions.0.to_v.weight", "decoder.mid_block.attentions.0.value.weight")]
    [InlineData("decoder.mid_block.attentions.0.to_out.0.bias", "decoder.mid_block.attentions.0.proj_attn.bias")]
    public void Legacy_vae_attention_names_are_accepted_through_the_alias_map(string current, string legacy)
    {
        using var set = Make(legacy);
        Assert.True(set.Contains(current));
        set.Take(current);
        set.EnsureAllUsed();
    }

    [Fact]
    public void Aliases_apply_only_where_they_are_given()
    {
        using var set = WeightSet.FromTensors("unet", [new("a.attentions.0.query.weight", Tensor.Zeros(DType.F32, new(1)))]);
        Assert.False(set.Contains("a.attentions.0.to_q.weight"));
        Assert.Empty(WeightAliases.None.LegacyNames("a.attentions.0.to_q.weight"));
    }

    [Fact]
    public void A_key_in_two_files_is_an_error()
    {
        var dir = Fixtures.TempFolder("weightset");
        var a = Path.Combine(dir, "a.safetensors");
        var b = Path.Combine(dir, "b.safetensors");
        SafetensorsWriter.Write(a, [new("w", Tensor.Zeros(DType.F32, new(1)))]);
        SafetensorsWriter.Write(b, [new("w", Tensor.Zeros(DType.F32, new(1)))]);
        var e = Assert.Throws<ModelFileException>(() => WeightSet.Open("unet", [a, b]));
        Assert.Contains("in both", e.Message, StringComparison.Ordinal);
    }
}
