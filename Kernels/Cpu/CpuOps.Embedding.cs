using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cpu;

public sealed partial class CpuOps
{
    /// <inheritdoc/>
    /// <remarks>
    /// Follows diffusers' float32 tensor arithmetic step by step: -ln(maxPeriod) is rounded to float32, then
    /// multiplied by the float32 index and divided by float32(half - shift) in float32; the products
    /// t * freq are float32. exp, sin and cos are evaluated in double on those float32 arguments and rounded
    /// once (correctly rounded, within PyTorch's 1 ulp).
    /// </remarks>
    public Tensor TimestepFeatures(
        ReadOnlySpan<float> timesteps,
        int features,
        bool flipSinToCos,
        float downscaleFreqShift,
        float maxPeriod = 10000f)
    {
        var outShape = OpShapes.TimestepFeatures(timesteps.Length, features, downscaleFreqShift, maxPeriod);
        var half = features / 2;
        var logPeriod = (float)-Math.Log(maxPeriod);
        var divisor = half - downscaleFreqShift;
        var frequencies = new float[half];
        for (var i = 0; i < half; i++)
        {
            var exponent = logPeriod * i / divisor;
            frequencies[i] = (float)Math.Exp(exponent);
        }

        var y = NewTensor(nameof(TimestepFeatures), outShape);
        var ys = y.AsSpan<float>();
        for (var row = 0; row < timesteps.Length; row++)
        {
            var rowFeatures = ys.Slice(row * features, features);
            var sinHalf = rowFeatures.Slice(flipSinToCos ? half : 0, half);
            var cosHalf = rowFeatures.Slice(flipSinToCos ? 0 : half, half);
            for (var i = 0; i < half; i++)
            {
                var arg = timesteps[row] * frequencies[i];
                sinHalf[i] = (float)Math.Sin(arg);
                cosHalf[i] = (float)Math.Cos(arg);
            }
        }

        return y;
    }
}
