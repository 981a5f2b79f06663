using CudaI2V.Runtime.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace CudaI2V.Kernels.Cpu;

public sealed partial class CpuOps
{
    /// <inheritdoc/>
    /// <remarks>
    /// One task per input row; each output feature is the fp32 dot product of the row with a weight row
    /// (PyTorch's [out, in] layout keeps each output feature's weights contiguous), plus the bias. The
    /// residual is added in place, as <see cref="Add"/> adds it.
    /// </remarks>
    public Tensor Linear(Tensor x, Tensor weight, Tensor? bias, Tensor? residual = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        Require(nameof(Linear), nameof(x), x);
        Require(nameof(Linear), nameof(weight), weight);
        Require(nameof(Linear), nameof(bias), bias);
        Require(nameof(Linear), nameof(residual), residual);
        var outShape = OpShapes.Linear(x, weight, bias, residual);

        var (outFeatures, inFeatures) = (weight.Shape[0], weight.Shape[1]);
        var rows = Product(x.Shape, 0, x.Shape.Rank - 1);
        var y = NewTensor(nameof(Linear), outShape);

        Parallel.For(0, rows, _parallel, row =>
        {
            var input = x.AsSpan<float>().Slice(row * inFeatures, inFeatures);
            var output = y.AsSpan<float>().Slice(row * outFeatures, outFeatures);
            var ws = weight.AsSpan<float>();
            ReadOnlySpan<float> bs = bias is null ? default : bias.AsSpan<float>();
            for (var o = 0; o < outFeatures; o++)
            {
                var sum = TensorPrimitives.Dot(input, ws.Slice(o * inFeatures, inFeatures));
                output[o] = bias is null ? sum : sum + bs[o];
            }
        });

        if (residual is not null)
        {
            AddInPlace(y, residual);
        }

        return y;
    }
}
