using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda.Ops;

/// <summary>One planned copy of a view into (part of) an output, and how it runs.</summary>
/// <param name="Source">The source view (possibly strided).</param>
/// <param name="Destination">The contiguous destination (a slice of the output for a concatenation).</param>
/// <param name="Plan">The strided-copy kernel launch, or a device memcpy.</param>
public sealed record LayoutCopy(Tensor Source, Tensor Destination, LaunchOrMemcpy<CopyStridedParams> Plan) : IKernelPlan
{
    /// <inheritdoc/>
    public void EnqueueOn(ILaunchTarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        Plan.EnqueueOn(target);
    }
}

/// <summary>A planned concatenation: one copy per part, in order.</summary>
/// <param name="Copies">Each part's copy into the slice of the output it occupies.</param>
public sealed record ConcatPlan(IReadOnlyList<LayoutCopy> Copies) : IKernelPlan
{
    /// <inheritdoc/>
    public void EnqueueOn(ILaunchTarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        foreach (var copy in Copies)
        {
            copy.EnqueueOn(target);
        }
    }
}

/// <summary>
/// The layout ops of <see cref="IOps"/> on the GPU, each a view of its source copied by CopyStrided.cu
/// (<see cref="CopyStridedKernel"/>) into an output the caller provides. They need no kernel of their own: each is a
/// permutation or a placement, which the strided copy performs after merging the dimensions contiguous on both sides.
/// <list type="bullet">
/// <item>Concat: each part is copied into the slice of the output it occupies (the last axis: rows of C_k into rows
/// of the sum; axis 0: one device memcpy per part).</item>
/// <item>FramesToSequences / SequencesToFrames: (B, F, H*W, C) and (B, H*W, F, C) are one permutation apart; rows
/// of C channels move whole, so reads and writes coalesce.</item>
/// <item>NCHW &lt;-&gt; NHWC and NCFHW &lt;-&gt; (B*F, H, W, C): transposes, for the edges of the pipeline only.</item>
/// </list>
/// All tensors are device tensors of one dtype (F32, F16 or BF16). Concat parts and the NCHW / NCFHW sources may be
/// strided views; the others must be contiguous. The output must be contiguous and must not overlap a source.
/// </summary>
public static class LayoutCopies
{
    /// <summary>Plans <c>output = Concat(parts, axis)</c>: one copy per part, in order.</summary>
    public static ConcatPlan PlanConcat(IReadOnlyList<Tensor> parts, int axis, Tensor output, bool forceKernel = false)
    {
        const string Op = "Concat";
        ArgumentNullException.ThrowIfNull(parts);
        foreach (var part in parts)
        {
            ArgumentNullException.ThrowIfNull(part, nameof(parts));
        }

        var shape = OpShapes.Concat(parts, axis, out var a);
        LaunchChecks.Exactly(Op, nameof(output), output, parts[0].DType, shape);
        var copies = new List<LayoutCopy>(parts.Count);
        var offset = 0;
        for (var k = 0; k < parts.Count; k++)
        {
            if (parts[k].DType != output.DType)
            {
                throw OpShapes.Fail(Op, $"parts[{k}] is {parts[k].DType} {parts[k].Shape}; the output is {output.DType} {output.Shape}.");
            }

            var length = parts[k].Shape[a];
            copies.Add(Copy(Op, parts[k], output.Slice(a, offset, length), forceKernel));
            offset += length;
        }

        return new ConcatPlan(copies);
    }

    /// <summary>Plans <c>output = FramesToSequences(x, frames)</c>: (B * F, H, W, C) to (B * H * W, F, C).</summary>
    public static LayoutCopy PlanFramesToSequences(Tensor x, int frames, Tensor output)
    {
        const string Op = nameof(IOps.FramesToSequences);
        ArgumentNullException.ThrowIfNull(x);
        var shape = OpShapes.FramesToSequences(x, frames);
        LaunchChecks.Device(Op, nameof(x), x);
        LaunchChecks.Exactly(Op, nameof(output), output, x.DType, shape);
        var (b, pixels, c) = (x.Shape[0] / frames, x.Shape[1] * x.Shape[2], x.Shape[3]);
        return Copy(Op, x.Reshape(b, frames, pixels, c).Permute(0, 2, 1, 3), output.Reshape(b, pixels, frames, c));
    }

    /// <summary>Plans <c>output = SequencesToFrames(x, height, width)</c>: (B * H * W, F, C) to (B * F, H, W, C).</summary>
    public static LayoutCopy PlanSequencesToFrames(Tensor x, int height, int width, Tensor output)
    {
        const string Op = nameof(IOps.SequencesToFrames);
        ArgumentNullException.ThrowIfNull(x);
        var shape = OpShapes.SequencesToFrames(x, height, width);
        LaunchChecks.Device(Op, nameof(x), x);
        LaunchChecks.Exactly(Op, nameof(output), output, x.DType, shape);
        var (pixels, frames, c) = (height * width, x.Shape[1], x.Shape[2]);
        var b = x.Shape[0] / pixels;
        return Copy(Op, x.Reshape(b, pixels, frames, c).Permute(0, 2, 1, 3), output.Reshape(b, frames, pixels, c));
    }

    /// <summary>Plans <c>output = NchwToNhwc(x)</c>: (N, C, H, W) to (N, H, W, C).</summary>
    public static LayoutCopy PlanNchwToNhwc(Tensor x, Tensor output)
    {
        const string Op = nameof(IOps.NchwToNhwc);
        ArgumentNullException.ThrowIfNull(x);
        OpShapes.RequireRank(Op, nameof(x), x, 4, "(N, C, H, W)");
        var source = x.Permute(0, 2, 3, 1);
        LaunchChecks.Exactly(Op, nameof(output), output, x.DType, source.Shape);
        return Copy(Op, source, output);
    }

    /// <summary>Plans <c>output = NhwcToNchw(x)</c>: (N, H, W, C) to (N, C, H, W).</summary>
    public static LayoutCopy PlanNhwcToNchw(Tensor x, Tensor output)
    {
        const string Op = nameof(IOps.NhwcToNchw);
        ArgumentNullException.ThrowIfNull(x);
        OpShapes.RequireRank(Op, nameof(x), x, 4, "(N, H, W, C)");
        var source = x.Permute(0, 3, 1, 2);
        LaunchChecks.Exactly(Op, nameof(output), output, x.DType, source.Shape);
        return Copy(Op, source, output);
    }

    /// <summary>Plans <c>output = NcfhwToNhwc(x)</c>: (B, C, F, H, W) to (B * F, H, W, C).</summary>
    public static LayoutCopy PlanNcfhwToNhwc(Tensor x, Tensor output)
    {
        const string Op = nameof(IOps.NcfhwToNhwc);
        ArgumentNullException.ThrowIfNull(x);
        OpShapes.RequireRank(Op, nameof(x), x, 5, "(B, C, F, H, W)");
        var (b, c, f, h, w) = (x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], x.Shape[4]);
        LaunchChecks.Exactly(Op, nameof(output), output, x.DType, new TensorShape(b * f, h, w, c));
        return Copy(Op, x.Permute(0, 2, 3, 4, 1), output.Reshape(b, f, h, w, c));
    }

    /// <summary>Plans <c>output = NhwcToNcfhw(x, frames)</c>: (B * F, H, W, C) to (B, C, F, H, W).</summary>
    public static LayoutCopy PlanNhwcToNcfhw(Tensor x, int frames, Tensor output)
    {
        const string Op = nameof(IOps.NhwcToNcfhw);
        ArgumentNullException.ThrowIfNull(x);
        OpShapes.RequireRank(Op, nameof(x), x, 4, "(B * F, H, W, C)");
        OpShapes.RequireFrames(Op, x, frames);
        LaunchChecks.Device(Op, nameof(x), x);
        var (b, h, w, c) = (x.Shape[0] / frames, x.Shape[1], x.Shape[2], x.Shape[3]);
        LaunchChecks.Exactly(Op, nameof(output), output, x.DType, new TensorShape(b, c, frames, h, w));
        return Copy(Op, x.Reshape(b, frames, h, w, c).Permute(0, 4, 1, 2, 3), output);
    }

    private static LayoutCopy Copy(string op, Tensor source, Tensor destination, bool forceKernel = false)
    {
        LaunchChecks.Disjoint(op, "output", destination, destination.DeviceAddress("output"), "its source", source, source.DeviceAddress("source"));
        return new LayoutCopy(source, destination, CopyStridedKernel.Plan(source, destination, forceKernel));
    }
}
