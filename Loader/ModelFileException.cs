namespace CudaI2V.Loader;

/// <summary>
/// A model file or folder is missing, malformed or does not match what the model needs. The message names the
/// file (and the tensor or config key, where there is one) and what was expected.
/// </summary>
public sealed class ModelFileException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ModelFileException(string message, string? filePath = null, string? tensorName = null, Exception? inner = null)
        : base(message, inner)
    {
        FilePath = filePath;
        TensorName = tensorName;
    }

    /// <summary>Creates the exception with a message only.</summary>
    public ModelFileException()
        : this("The model files are not valid.")
    {
    }

    /// <summary>Creates the exception with a message only.</summary>
    public ModelFileException(string message)
        : this(message, null, null, null)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public ModelFileException(string message, Exception innerException)
        : this(message, null, null, innerException)
    {
    }

    /// <summary>The file at fault, when there is one.</summary>
    public string? FilePath { get; }

    /// <summary>The tensor (or config key) at fault, when there is one.</summary>
    public string? TensorName { get; }
}
