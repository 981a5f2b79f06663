using CudaI2V.Kernels.Cuda;
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
}
