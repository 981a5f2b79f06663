using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Runtime;

public sealed class TensorTypeTests
{
    [Theory]
    [InlineData(DType.F32, 4, "F32")]
    [InlineData(DType.F16, 2, "F16")]
    [InlineData(DType.BF16, 2, "BF16")]
    [InlineData(DType.I64, 8, "I64")]
    [InlineData(DType.I32, 4, "I32")]
    [InlineData(DType.U8, 1, "U8")]
    [InlineData(DType.Bool, 1, "BOOL")]
    public void DType_sizes_and_names_round_trip(DType dtype, int size, string name)
    {
        Assert.Equal(size, dtype.SizeOf());
        Assert.Equal(name, dtype.SafetensorsName());
        Assert.True(DTypes.TryParseSafetensorsName(name, out var parsed));
        Assert.Equal(dtype, parsed);
    }

    [Fact]
    public void Unknown_dtype_names_are_refused()
    {
        Assert.False(DTypes.TryParseSafetensorsName("F8_E4M3", out _));
        Assert.False(DTypes.TryParseSafetensorsName("f32", out _));
    }

    [Theory]
    [InlineData(1.0f, (ushort)0x3F80)]
    [InlineData(-2.0f, (ushort)0xC000)]
    [InlineData(0.0f, (ushort)0x0000)]
    [InlineData(float.PositiveInfinity, (ushort)0x7F80)]
    [InlineData(float.NegativeInfinity, (ushort)0xFF80)]
    [InlineData(3.4e38f, (ushort)0x7F80)] // rounds up past the largest bfloat16 to infinity
    public void BFloat16_rounds_to_nearest(float value, ushort bits) => Assert.Equal(bits, BFloat16.FromSingle(value).Bits);

    [Fact]
    public void BFloat16_ties_round_to_even_and_nan_stays_nan()
    {
        // 1 + 2^-8 is exactly between 1 (0x3F80, even) and 1 + 2^-7 (0x3F81): ties go to even.
        Assert.Equal((ushort)0x3F80, BFloat16.FromSingle(BitConverter.UInt32BitsToSingle(0x3F808000)).Bits);

        // Between 0x3F81 (odd) and 0x3F82: goes up to even.
        Assert.Equal((ushort)0x3F82, BFloat16.FromSingle(BitConverter.UInt32BitsToSingle(0x3F818000)).Bits);

        // Just above the tie rounds up.
        Assert.Equal((ushort)0x3F81, BFloat16.FromSingle(BitConverter.UInt32BitsToSingle(0x3F808001)).Bits);
        Assert.True(float.IsNaN(BFloat16.FromSingle(float.NaN).ToSingle()));
        Assert.Equal(1.5f, (float)(BFloat16)1.5f);
    }

    [Fact]
    public void Shape_counts_elements_and_formats()
    {
        var shape = new TensorShape(2, 4, 20, 28);
        Assert.Equal(4480, shape.ElementCount);
        Assert.Equal("[2, 4, 20, 28]", shape.ToString());
        Assert.Equal(new long[] { 2240, 560, 28, 1 }, shape.ContiguousStrides());
        Assert.Equal(28, shape[-1]);
        Assert.Equal(1, TensorShape.Scalar.ElementCount);
        Assert.Equal(new TensorShape(2, 4, 20, 28), shape);
        Assert.Throws<ArgumentException>(() => new TensorShape(2, -1));
    }

    [Fact]
    public void Views_permute_slice_and_copy_without_changing_values()
    {
        var values = Enumerable.Range(0, 24).Select(i => (float)i).ToArray();
        var t = Tensor.FromArray(values, 2, 3, 4);
        var nhwc = t.Permute(0, 2, 1); // [2, 4, 3]
        Assert.False(nhwc.IsContiguous);
        Assert.Equal(new TensorShape(2, 4, 3), nhwc.Shape);
        var c = nhwc.Contiguous().AsSpan<float>().ToArray();
        Assert.Equal(new float[] { 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11 }, c[..12]);

        var slice = t.Slice(1, 1, 2); // [2, 2, 4], rows 1..2 of each batch
        Assert.Equal(new float[] { 4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23 }, slice.ToFloat32Array());
        Assert.Throws<InvalidOperationException>(() => nhwc.AsSpan<float>());
        Assert.Throws<ArgumentException>(() => t.Reshape(5, 5));
        Assert.Equal(new TensorShape(6, 4), t.Reshape(6, 4).Shape);
        Assert.Throws<InvalidOperationException>(() => t.AsSpan<Half>());

        var row = t.Slice(2, 1, 2).Select(0, 1); // [3, 2]: batch 1, columns 1..2, the axis dropped
        Assert.Equal(new TensorShape(3, 2), row.Shape);
        Assert.Equal(new long[] { 4, 1 }, row.Strides);
        Assert.Equal(new float[] { 13, 14, 17, 18, 21, 22 }, row.ToFloat32Array());
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Select(0, 2));
    }

    [Fact]
    public void Conversions_between_dtypes_are_exact_where_they_can_be()
    {
        var t = Tensor.FromArray(new float[] { 1.5f, -2.25f, 65504f, 1e-8f }, 4);
        var half = t.To(DType.F16);
        Assert.Equal(new[] { (Half)1.5f, (Half)(-2.25f), (Half)65504f, (Half)1e-8f }, half.AsSpan<Half>().ToArray());
        Assert.Equal(new float[] { 1.5f, -2.25f, 65504f, (float)(Half)1e-8f }, half.ToFloat32Array());
        var bf = t.To(DType.BF16);
        Assert.Equal(1.5f, bf.AsSpan<BFloat16>()[0].ToSingle());
        var big = Tensor.FromArray(new long[] { long.MaxValue - 1, -5 }, 2);
        Assert.Throws<OverflowException>(() => big.To(DType.I32));
        Assert.Equal(new long[] { 7, -5 }, Tensor.FromArray(new int[] { 7, -5 }, 2).To(DType.I64).AsSpan<long>().ToArray());
    }
}
