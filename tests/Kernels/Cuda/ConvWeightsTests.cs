using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda;

/// <summary>The packed filter layout the CUDA backend uploads convolution weights in, and how Conv2d recognises it.</summary>
public sealed class ConvWeightsTests
{
    [Fact]
    public void A_packed_filter_addressed_in_torch_order_is_recognised_and_reads_the_same_values()
    {
        var torch = Tensor.FromArray(Enumerable.Range(0, 5 * 3 * 2 * 4).Select(i => (float)i).ToArray(), 5, 3, 2, 4);
        var packed = ConvWeights.PackOnHost(torch, DType.F32);   // [5, 2, 4, 3], contiguous
        var view = packed.Permute(0, 3, 1, 2);                   // what CudaOps.UploadConvWeight returns

        Assert.Equal(new TensorShape(5, 2, 4, 3), packed.Shape);
        Assert.Equal(torch.Shape, view.Shape);
        Assert.Equal(torch.ToFloat32Array(), view.Contiguous().ToFloat32Array());
        Assert.True(ConvWeights.IsPackedView(view));
        Assert.False(ConvWeights.IsPackedView(torch));
        Assert.False(ConvWeights.IsPackedView(Tensor.Zeros(DType.F32, new TensorShape(5, 3, 1, 1)))); // 1x1: one layout
    }

    [Fact]
    public void A_packed_temporal_filter_addressed_in_torch_order_is_recognised_and_reads_the_same_values()
    {
        var torch = Tensor.FromArray(Enumerable.Range(0, 4 * 6 * 3).Select(i => (float)i).ToArray(), 4, 6, 3, 1, 1);
        var packed = ConvWeights.PackOnHost(torch, DType.F32);   // [4, 3, 6], contiguous
        var view = ConvWeights.TorchOrderView(packed);           // what CudaOps.UploadConvWeight returns

        Assert.Equal(torch.Shape, view.Shape);
        Assert.Equal(torch.ToFloat32Array(), view.Contiguous().ToFloat32Array());
        Assert.True(ConvWeights.IsPackedView(view));
        Assert.False(ConvWeights.IsPackedView(torch));
        Assert.Equal(packed.ToFloat32Array(), ConvWeights.PackedFilter(view).ToFloat32Array());
        Assert.False(ConvWeights.IsPackedView(Tensor.Zeros(DType.F32, new TensorShape(4, 6, 1, 1, 1)))); // kt = 1: one layout
        Assert.Throws<ArgumentException>(() => ConvWeights.PackedFilter(torch));
    }

    [Fact]
    public void Pack_shapes_and_host_packing_follow_the_documented_layouts()
    {
        Assert.Equal(new TensorShape(7, 3, 2, 5), ConvWeights.PackedShape(new TensorShape(7, 5, 3, 2)));
        Assert.Equal(new TensorShape(7, 3, 5), ConvWeights.PackedShape(new TensorShape(7, 5, 3, 1, 1)));
        Assert.Throws<ArgumentException>(() => ConvWeights.PackedShape(new TensorShape(7, 5, 3, 2, 1)));

        // weight[co, ci, ky, kx] = 1000 co + 100 ci + 10 ky + kx lands at packed[co, ky, kx, ci].
        var values = new float[2 * 3 * 2 * 2];
        for (var i = 0; i < values.Length; i++)
        {
            var (co, ci, ky, kx) = (i / 12, i / 4 % 3, i / 2 % 2, i % 2);
            values[i] = (1000 * co) + (100 * ci) + (10 * ky) + kx;
        }

        var packed = ConvWeights.PackOnHost(Tensor.FromArray(values, 2, 3, 2, 2), DType.F32);
        Assert.Equal(new TensorShape(2, 2, 2, 3), packed.Shape);
        Assert.Equal(1211f, packed.AsSpan<float>()[(((1 * 2) + 1) * 2 * 3) + (1 * 3) + 2]); // [1, 1, 1, 2]
        var temporal = ConvWeights.PackOnHost(Tensor.FromArray(new float[] { 0, 1, 2, 10, 11, 12 }, 1, 2, 3, 1, 1), DType.F16);
        Assert.Equal(new float[] { 0, 10, 1, 11, 2, 12 }, temporal.ToFloat32Array());
    }
}
