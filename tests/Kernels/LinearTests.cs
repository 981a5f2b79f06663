using CudaI2V.Kernels.Cpu;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Kernels;

/// <summary>CpuOps.Linear (weight [out, in]) against a naive matrix product in double.</summary>
public sealed class LinearTests
{
    private readonly CpuOps _ops = new();

    [Fact]
    public void Linear_WithBias_MatchesNaive()
    {
        var data = new TestData(31);
        var x = data.Uniform(2, 5, 12);
        var (weight, bias) = (data.Uniform(7, 12), data.Uniform(7));

        var actual = _ops.Linear(x, weight, bias);

        Assert.Equal(new TensorShape(2, 5, 7), actual.Shape);
        Tolerance.Fp32.AssertClose(NaiveLinear(x, weight, bias), actual);
    }

    [Fact]
    public void Linear_WithoutBias_MatchesNaive()
    {
        var data = new TestData(32);
        var x = data.Uniform(9, 320);
        var weight = data.Uniform(33, 320);

        var actual = _ops.Linear(x, weight, null);

        Tolerance.Fp32.AssertClose(NaiveLinear(x, weight, null), actual);
    }

    [Fact]
    public void Linear_WithResidual_AddsIt()
    {
        var data = new TestData(33);
        var x = data.Uniform(3, 4, 8);
        var (weight, bias, residual) = (data.Uniform(8, 8), data.Uniform(8), data.Uniform(3, 4, 8));

        var actual = _ops.Linear(x, weight, bias, residual);

        var expected = NaiveLinear(x, weight, bias);
        var skip = Naive.Values(residual);
        Tolerance.Fp32.AssertClose(expected.Select((v, i) => v + skip[i]).ToArray(), actual);
    }

    [Fact]
    public void Linear_WrongInputFeatures_ThrowsWithBothShapes()
    {
        var x = Tensor.Zeros(DType.F32, new TensorShape(2, 5, 11));
        var weight = Tensor.Zeros(DType.F32, new TensorShape(7, 12));
        var error = Assert.Throws<ArgumentException>(() => _ops.Linear(x, weight, null));
        Assert.Contains("[2, 5, 11]", error.Message, StringComparison.Ordinal);
        Assert.Contains("[7, 12]", error.Message, StringComparison.Ordinal);
    }

    /// <summary>out[r, o] = bias[o] + sum over i of x[r, i] * weight[o, i], in double.</summary>
    private static double[] NaiveLinear(Tensor x, Tensor weight, Tensor? bias)
    {
        var (outFeatures, inFeatures) = (weight.Shape[0], weight.Shape[1]);
        var rows = (int)(x.ElementCount / inFeatures);
        var (xs, ws) = (Naive.Values(x), Naive.Values(weight));
        var bs = bias is null ? new double[outFeatures] : Naive.Values(bias);
        var y = new double[rows * outFeatures];
        for (var r = 0; r < rows; r++)
        {
            for (var o = 0; o < outFeatures; o++)
            {
                var sum = bs[o];
                for (var i = 0; i < inFeatures; i++)
                {
                    sum += xs[(r * inFeatures) + i] * ws[(o * inFeatures) + i];
                }

                y[(r * outFeatures) + o] = sum;
            }
        }

        return y;
    }
}
