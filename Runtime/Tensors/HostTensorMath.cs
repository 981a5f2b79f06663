namespace CudaI2V.Runtime.Tensors;

/// <summary>The few sums the pipeline does on host tensors between backend calls, in float32.</summary>
public static class HostTensorMath
{
    /// <summary>A new F32 tensor: every element of <paramref name="x"/> (any floating-point dtype) times <paramref name="factor"/>, one float32 multiply each.</summary>
    public static Tensor Scaled(this Tensor x, float factor)
    {
        ArgumentNullException.ThrowIfNull(x);
        var result = x.To(DType.F32);
        var values = result.AsSpan<float>();
        for (var i = 0; i < values.Length; i++)
        {
            values[i] *= factor;
        }

        return result;
    }

    /// <summary>A new F32 tensor joining <paramref name="parts"/> (of one shape but the first axis) along axis 0, in order.</summary>
    public static Tensor ConcatFirstAxis(IReadOnlyList<Tensor> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0)
        {
            throw new ArgumentException("Nothing to join.", nameof(parts));
        }

        var dims = parts[0].Shape.Dims.ToArray();
        foreach (var part in parts)
        {
            if (part.Shape.Rank != dims.Length || !part.Shape.Dims[1..].SequenceEqual(dims.AsSpan(1)))
            {
                throw new ArgumentException($"Parts joined along axis 0 must agree in the other axes: {parts[0].Shape} and {part.Shape}.", nameof(parts));
            }
        }

        dims[0] = parts.Sum(p => p.Shape[0]);
        var result = Tensor.Zeros(DType.F32, new TensorShape(dims));
        var target = result.AsSpan<float>();
        var offset = 0;
        foreach (var part in parts)
        {
            var values = part.To(DType.F32).AsSpan<float>();
            values.CopyTo(target[offset..]);
            offset += values.Length;
        }

        return result;
    }
}
