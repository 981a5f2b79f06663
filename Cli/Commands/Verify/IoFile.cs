using CudaI2V.Loader;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Cli.Commands.Verify;

/// <summary>Reads the named tensors of a verify io file, refusing a missing tensor or a wrong shape with a message that names it.</summary>
internal sealed class IoFile(SafetensorsFile file) : IDisposable
{
    public string Path => file.Path;

    public static IoFile Open(string path) => new(SafetensorsFile.Open(path));

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

    public void Dispose() => file.Dispose();
}
