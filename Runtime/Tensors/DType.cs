namespace CudaI2V.Runtime.Tensors;

/// <summary>The element types CudaI2V stores. Names follow safetensors' dtype strings.</summary>
public enum DType : byte
{
    /// <summary>IEEE 754 binary32.</summary>
    F32,

    /// <summary>IEEE 754 binary16 (<see cref="Half"/>).</summary>
    F16,

    /// <summary>bfloat16: the upper 16 bits of a binary32 (<see cref="BFloat16"/>).</summary>
    BF16,

    /// <summary>Signed 64-bit integer.</summary>
    I64,

    /// <summary>Signed 32-bit integer.</summary>
    I32,

    /// <summary>Unsigned byte.</summary>
    U8,

    /// <summary>One byte per element, 0 is false and anything else true.</summary>
    Bool,
}

/// <summary>Sizes and names of <see cref="DType"/> values.</summary>
public static class DTypes
{
    /// <summary>Bytes per element.</summary>
    public static int SizeOf(this DType dtype) => dtype switch
    {
        DType.F32 or DType.I32 => 4,
        DType.F16 or DType.BF16 => 2,
        DType.I64 => 8,
        DType.U8 or DType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype."),
    };

    /// <summary>True for the three floating-point types.</summary>
    public static bool IsFloatingPoint(this DType dtype) => dtype is DType.F32 or DType.F16 or DType.BF16;

    /// <summary>The dtype's name in a safetensors header ("F32", "F16", "BF16", "I64", "I32", "U8", "BOOL").</summary>
    public static string SafetensorsName(this DType dtype) => dtype switch
    {
        DType.F32 => "F32",
        DType.F16 => "F16",
        DType.BF16 => "BF16",
        DType.I64 => "I64",
        DType.I32 => "I32",
        DType.U8 => "U8",
        DType.Bool => "BOOL",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype."),
    };

    /// <summary>Parses a safetensors dtype name; returns false for a name CudaI2V does not store.</summary>
    public static bool TryParseSafetensorsName(string name, out DType dtype)
    {
        switch (name)
        {
            case "F32": dtype = DType.F32; return true;
            case "F16": dtype = DType.F16; return true;
            case "BF16": dtype = DType.BF16; return true;
            case "I64": dtype = DType.I64; return true;
            case "I32": dtype = DType.I32; return true;
            case "U8": dtype = DType.U8; return true;
            case "BOOL": dtype = DType.Bool; return true;
            default: dtype = default; return false;
        }
    }
}
