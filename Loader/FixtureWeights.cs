using System.Text;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Loader;

/// <summary>
/// The generator behind every test weight and input of the reference fixtures (tests/fixtures/README.md):
/// each value is a function of the tensor's name and the element's row-major index, computed with integer
/// arithmetic and float32 operations only, so any machine reproduces it bit for bit.
/// <code>
/// fnv1a64(s); z = fnv1a64(name) + (i + 1) * 0x9E3779B97F4A7C15; splitmix finaliser;
/// u = float32(z >> 40) * 2^-24;  v = 2u - 1 in [-1, 1);  value = v * scale (+ offset when offset != 0)
/// </code>
/// It also makes release-sized weights for benchmarks, where only the shapes matter.
/// </summary>
public static class FixtureWeights
{
    /// <summary>Scale of an input tensor: float32(sqrt(3)), so inputs have unit variance.</summary>
    public static readonly float InputScale = (float)Math.Sqrt(3.0);

    /// <summary>64-bit FNV-1a of the UTF-8 bytes of <paramref name="text"/>.</summary>
    public static ulong Fnv1a64(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var hash = 0xCBF29CE484222325UL;
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            hash = (hash ^ b) * 0x100000001B3UL;
        }

        return hash;
    }

    /// <summary>The i-th uniform value in [-1, 1) for a name whose hash is <paramref name="nameHash"/>.</summary>
    public static float Uniform(ulong nameHash, long index)
    {
        var z = nameHash + ((ulong)(index + 1) * 0x9E3779B97F4A7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        var u = (float)(z >> 40) * (1f / 16777216f);
        return (u * 2f) - 1f;
    }

    /// <summary>Fills <paramref name="destination"/> with value(name, i) = v * scale (+ offset).</summary>
    public static void Fill(string name, Span<float> destination, float scale, float offset = 0f)
    {
        var hash = Fnv1a64(name);
        for (var i = 0; i < destination.Length; i++)
        {
            // One float32 multiply, then one float32 add only when the offset is not zero (no fused multiply-add).
            var scaled = Uniform(hash, i) * scale;
            destination[i] = offset != 0f ? scaled + offset : scaled;
        }
    }

    /// <summary>The (scale, offset) the rule gives a parameter of this key and shape.</summary>
    public static (float Scale, float Offset) ParameterScale(string key, TensorShape shape)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Rank >= 2)
        {
            double fanIn = 1;
            for (var d = 1; d < shape.Rank; d++)
            {
                fanIn *= shape[d];
            }

            return ((float)Math.Sqrt(3.0 / fanIn), 0f);
        }

        return key.EndsWith("weight", StringComparison.Ordinal) && key.Contains("norm", StringComparison.Ordinal)
            ? (0.1f, 1f)
            : (0.05f, 0f);
    }

    /// <summary>Parameter <paramref name="key"/> of <paramref name="component"/> ("unet", "vae", ...) as fp32 values.</summary>
    public static float[] Parameter(string component, string key, TensorShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var values = new float[shape.ElementCount];
        var (scale, offset) = ParameterScale(key, shape);
        Fill(component + "." + key, values, scale, offset);
        return values;
    }

    /// <summary>Parameter <paramref name="key"/> as a host tensor of <paramref name="dtype"/> (values made in fp32, then converted).</summary>
    public static Tensor ParameterTensor(string component, string key, TensorShape shape, DType dtype)
    {
        var values = Tensor.FromSpan<float>(Parameter(component, key, shape), shape);
        return dtype == DType.F32 ? values : values.To(dtype);
    }

    /// <summary>Input tensor "input.<paramref name="name"/>" with the given scale (default unit variance).</summary>
    public static Tensor Input(string name, TensorShape shape, float? scale = null, float offset = 0f)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var values = new float[shape.ElementCount];
        Fill("input." + name, values, scale ?? InputScale, offset);
        return Tensor.FromSpan<float>(values, shape);
    }

    /// <summary>Every tensor of a manifest, regenerated in the manifest's dtypes and order.</summary>
    public static IEnumerable<KeyValuePair<string, Tensor>> FromManifest(string component, WeightManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        foreach (var entry in manifest.Entries)
        {
            yield return new(entry.Key, ParameterTensor(component, entry.Key, entry.Shape, entry.DType));
        }
    }

    /// <summary>Regenerates a manifest's weight file at <paramref name="path"/>.</summary>
    public static void WriteManifest(string component, WeightManifest manifest, string path) =>
        SafetensorsWriter.Write(path, FromManifest(component, manifest));
}
