using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Loader.Safetensors;

/// <summary>One tensor's header entry: dtype, shape and its byte range within the data section.</summary>
/// <param name="Name">The state-dict key.</param>
/// <param name="DType">Element type.</param>
/// <param name="Shape">Dimensions (row-major).</param>
/// <param name="Begin">First byte, relative to the start of the data section.</param>
/// <param name="End">One past the last byte, relative to the start of the data section.</param>
public sealed record SafetensorsEntry(string Name, DType DType, TensorShape Shape, long Begin, long End)
{
    /// <summary>Bytes of data.</summary>
    public long ByteLength => End - Begin;
}
