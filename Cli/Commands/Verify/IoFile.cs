using CudaI2V.Loader;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Cli.Commands.Verify;

/// <summary>Reads the named tensors of a verify io file, refusing a missing tensor or a wrong shape with a message that names it.</summary>
internal sealed class IoFile(SafetensorsFile file) : IDisposable
{
    public string Path => file.Path;

    /// <summary>Every tensor name, ordered.</summary>
    public IEnumerable<string> Names => file.Names;

    public static IoFile Open(string path) => new(SafetensorsFile.Open(path));

    /// <summary>The "__metadata__" value of <paramref name="key"/>; <paramref name="expected"/> describes it for the message when it is absent.</summary>
    public string RequireMetadata(string key, string expected) =>
        file.Metadata.TryGetValue(key, out var value)
            ? value
            : throw new ModelFileException($"{file.Path} has no metadata entry '{key}' (expected {expected}).", file.Path, key);

    /// <summary>The "__metadata__" value of <paramref name="key"/>, or null when the file has none.</summary>
    public string? Metadata(string key) => file.Metadata.TryGetValue(key, out var value) ? value : null;

    /// <summary>The tensor, of any shape; <paramref name="expected"/> describes it for the message when it is absent.</summary>
    public Tensor Require(string name, string expected) =>
        file.Contains(name)
            ? file.GetTensor(name)
            : throw new ModelFileException($"{file.Path} has no tensor '{name}' (expected {expected}).", file.Path, name);

    /// <summary>The tensor, which must have <paramref name="rank"/> dimensions; <paramref name="expected"/> describes the shape for messages.</summary>
    public Tensor Require(string name, int rank, string expected)
    {
        if (!file.Contains(name))
        {
            throw new ModelFileException($"{file.Path} has no tensor '{name}' (expected {expected}).", file.Path, name);
        }

        var tensor = file.GetTensor(name);
        if (tensor.Shape.Rank != rank)
        {
            throw new ModelFileException($"{file.Path}: '{name}' has shape {tensor.Shape}; expected {expected}.", file.Path, name);
        }

        return tensor;
    }

    /// <summary>The tensor, which must have exactly <paramref name="shape"/>.</summary>
    public Tensor Require(string name, TensorShape shape, string meaning)
    {
        var tensor = Require(name, shape.Rank, $"{meaning} {shape}");
        return tensor.Shape == shape
            ? tensor
            : throw new ModelFileException($"{file.Path}: '{name}' has shape {tensor.Shape}; expected {meaning} {shape}.", file.Path, name);
    }

    /// <summary>A scalar (0-d or one element) as a float.</summary>
    public float Scalar(string name)
    {
        if (!file.Contains(name))
        {
            throw new ModelFileException($"{file.Path} has no tensor '{name}' (expected a scalar).", file.Path, name);
        }

        var tensor = file.GetTensor(name);
        return tensor.ElementCount == 1
            ? tensor.ToFloat32Array()[0]
            : throw new ModelFileException($"{file.Path}: '{name}' has shape {tensor.Shape}; expected a scalar.", file.Path, name);
    }

    /// <summary>A scalar (0-d or one element) holding a whole number, such as a timestep stored as int64.</summary>
    public long Integer(string name)
    {
        var tensor = Require(name, "a scalar integer");
        if (tensor.ElementCount != 1)
        {
            throw new ModelFileException($"{file.Path}: '{name}' has shape {tensor.Shape}; expected a scalar integer.", file.Path, name);
        }

        if (tensor.DType == DType.I64)
        {
            return tensor.Contiguous().AsSpan<long>()[0];
        }

        var value = tensor.ToFloat32Array()[0];
        return float.IsInteger(value)
            ? (long)value
            : throw new ModelFileException($"{file.Path}: '{name}' is {value}; expected a whole number.", file.Path, name);
    }

    public void Dispose() => file.Dispose();
}
