using System.Runtime.InteropServices;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda;

/// <summary>The parameters of Fill.cu's entry points (24 bytes; mirrors <c>struct FillParams</c>).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FillParams
{
    /// <summary>Device address of element 0.</summary>
    public ulong Destination;

    /// <summary>Elements to write.</summary>
    public long Count;

    /// <summary>The value, rounded on the device to the element type.</summary>
    public float Value;

    private readonly int _padding;
}

/// <summary>Launcher of Fill.cu: sets every element of a contiguous fp32/fp16/bf16 device tensor to one value.</summary>
public static class FillKernel
{
    /// <summary>The source file.</summary>
    public const string SourceFile = "Fill.cu";

    /// <summary>The entry points this launcher uses.</summary>
    public static IReadOnlyList<string> EntryPoints { get; } = ["fill_f32", "fill_f16", "fill_bf16"];

    /// <summary>The launch for <paramref name="destination"/>, or null when it has no element (nothing to launch).</summary>
    public static KernelLaunch<FillParams>? Plan(Tensor destination, float value, int maxBlocks = ElementwiseGrid.DefaultMaxBlocks)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var suffix = ElementwiseGrid.Suffix(destination.DType, nameof(destination));
        if (!destination.IsContiguous)
        {
            throw new ArgumentException($"Fill needs a contiguous destination; got a strided {destination.DType} view of shape {destination.Shape}.", nameof(destination));
        }

        var address = destination.DeviceAddress(nameof(destination));
        if (destination.ElementCount == 0)
        {
            return null;
        }

        var parameters = new FillParams { Destination = address, Count = destination.ElementCount, Value = value };
        return new KernelLaunch<FillParams>(SourceFile, $"fill_{suffix}", ElementwiseGrid.For(destination.ElementCount, maxBlocks), parameters);
    }
}
