using CudaI2V.Kernels.Cuda.Backend;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda.Ops;

/// <summary>
/// Converting convolution filters from PyTorch's layout to <see cref="ConvWeightLayout.Packed"/>, once at load:
/// [Cout, Cin, kh, kw] to [Cout, kh, kw, Cin], and a temporal [Cout, Cin, kt, 1, 1] to [Cout, kt, Cin]. Either on the
/// host while converting the dtype (<see cref="PackOnHost"/>, one pass before the upload) or on the device with one
/// strided copy (<see cref="PlanPack"/>).
/// </summary>
public static class ConvWeights
{
    /// <summary>The packed shape of a PyTorch filter shape (rank 4, or rank 5 with trailing 1, 1).</summary>
    public static TensorShape PackedShape(TensorShape torch)
    {
        ArgumentNullException.ThrowIfNull(torch);
        return torch.Rank switch
        {
            4 => new TensorShape(torch[0], torch[2], torch[3], torch[1]),
            5 when torch[3] == 1 && torch[4] == 1 => new TensorShape(torch[0], torch[2], torch[1]),
            _ => throw new ArgumentException($"A convolution filter is [Cout, Cin, kh, kw] or [Cout, Cin, kt, 1, 1]; got {torch}.", nameof(torch)),
        };
    }

    /// <summary>A view of a contiguous PyTorch filter with its axes in packed order (shape <see cref="PackedShape"/>, strided).</summary>
    public static Tensor PackedOrderView(Tensor torch)
    {
        ArgumentNullException.ThrowIfNull(torch);
        _ = PackedShape(torch.Shape);
        return torch.Shape.Rank == 4
            ? torch.Permute(0, 2, 3, 1)
            : torch.Reshape(torch.Shape[0], torch.Shape[1], torch.Shape[2]).Permute(0, 2, 1);
    }

    /// <summary>
    /// True when <paramref name="weight"/> is a packed filter addressed as [Cout, Cin, kh, kw] (what
    /// <see cref="CudaOps.UploadConvWeight"/> returns): not contiguous itself, contiguous in packed order.
    /// </summary>
    public static bool IsPackedView(Tensor weight)
    {
        ArgumentNullException.ThrowIfNull(weight);
        return weight.Shape.Rank == 4 && !weight.IsContiguous && weight.Permute(0, 2, 3, 1).IsContiguous;
    }

    /// <summary>A new contiguous host tensor: the packed filter in <paramref name="dtype"/> (converted and permuted in one pass).</summary>
    public static Tensor PackOnHost(Tensor torch, DType dtype)
    {
        ArgumentNullException.ThrowIfNull(torch);
        return PackedOrderView(torch).To(dtype);
    }

    /// <summary>Plans packing a device filter into <paramref name="packed"/> (same dtype, shape <see cref="PackedShape"/>): one strided copy.</summary>
    public static LaunchOrMemcpy<CopyStridedParams> PlanPack(Tensor torch, Tensor packed)
    {
        ArgumentNullException.ThrowIfNull(torch);
        ArgumentNullException.ThrowIfNull(packed);
        return CopyStridedKernel.Plan(PackedOrderView(torch), packed);
    }
}
