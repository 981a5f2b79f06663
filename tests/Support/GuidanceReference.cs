using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Support;

/// <summary>diffusers' classifier-free guidance on the host, the reference the fused step is held to.</summary>
public static class GuidanceReference
{
    /// <summary>
    /// <c>u + g * (c - u)</c> in float32, in that order, where <paramref name="output"/> holds the unconditional half
    /// then the conditional half along axis 0; the result has half as many items along axis 0.
    /// </summary>
    public static Tensor Guide(Tensor output, float guidance)
    {
        ArgumentNullException.ThrowIfNull(output);
        var all = output.ToFloat32Array();
        var half = all.Length / 2;
        var result = new float[half];
        for (var i = 0; i < half; i++)
        {
            result[i] = all[i] + (guidance * (all[half + i] - all[i]));
        }

        var dims = output.Shape.Dims.ToArray();
        dims[0] /= 2;
        return Tensor.FromSpan<float>(result, new TensorShape(dims));
    }
}
