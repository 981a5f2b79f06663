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
    /// A contiguous packed filter addressed in PyTorch's order, without a copy: [Cout, kh, kw, Cin] as [Cout, Cin, kh,
    /// kw], and a temporal [Cout, kt, Cin] as [Cout, Cin, kt, 1, 1] (what <see cref="CudaOps.UploadConvWeight"/>
    /// returns, so that the layers and the other backends see one shape).
    /// </summary>
    public static Tensor TorchOrderView(Tensor packed)
    {
        ArgumentNullException.ThrowIfNull(packed);
        return packed.Shape.Rank switch
        {
            4 => packed.Permute(0, 3, 1, 2),
            3 => packed.Reshape(packed.Shape[0], packed.Shape[1], packed.Shape[2], 1, 1).Permute(0, 2, 1, 3, 4),
            _ => throw new ArgumentException($"A packed filter is [Cout, kh, kw, Cin] or [Cout, kt, Cin]; got {packed.Shape}.", nameof(packed)),
        };
    }

    /// <summary>
    /// True when <paramref name="weight"/> is a packed filter addressed in PyTorch's order (<see cref="TorchOrderView"/>):
    /// not contiguous itself, contiguous in packed order. A 1x1 (or kt = 1) filter is the same either way and is not one.
    /// </summary>
    public static bool IsPackedView(Tensor weight)
    {
        ArgumentNullException.ThrowIfNull(weight);
        return weight.Shape.Rank switch
        {
            4 => !weight.IsContiguous && weight.Permute(0, 2, 3, 1).IsContiguous,
            5 => weight.Shape[3] == 1 && weight.Shape[4] == 1 && !weight.IsContiguous && weight.Permute(0, 2, 1, 3, 4).IsContiguous,
            _ => false,
        };
    }

    /// <summary>The packed filter behind a <see cref="IsPackedView"/> view: [Cout, kh, kw, Cin], or [Cout, kt, Cin] for a temporal one.</summary>
    public static Tensor PackedFilter(Tensor view)
    {
        ArgumentNullException.ThrowIfNull(view);
        if (!IsPackedView(view))
        {
            throw new ArgumentException($"The filter {view.Shape} is not a packed filter addressed in PyTorch's order.", nameof(view));
        }

        return view.Shape.Rank == 4
            ? view.Permute(0, 2, 3, 1)
            : view.Permute(0, 2, 1, 3, 4).Reshape(view.Shape[0], view.Shape[2], view.Shape[1]);
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
