using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda.Ops;

/// <summary>The sizes of a temporal convolution (<see cref="IOps.TemporalConv"/>), enough to plan its workspace.</summary>
/// <param name="Images">N = B * F.</param>
/// <param name="Frames">F.</param>
/// <param name="Height">H.</param>
/// <param name="Width">W.</param>
/// <param name="InChannels">Cin.</param>
/// <param name="OutChannels">Cout.</param>
/// <param name="KernelFrames">kt, odd (3 in I2VGen-XL).</param>
/// <param name="DType">F16, BF16 or F32.</param>
public sealed record TemporalConvShape(int Images, int Frames, int Height, int Width, int InChannels, int OutChannels, int KernelFrames, DType DType)
{
    /// <summary>
    /// The same convolution as a 2-D one: each video (F, H, W, Cin) is an image of height F and width H * W, the filter
    /// is kt x 1, and the kt / 2 zero frames before and after are padding rows.
    /// </summary>
    public Conv2dShape AsConv2d() => new(
        Images / Frames, Frames, Height * Width, InChannels, OutChannels, KernelFrames, 1, 1, new Padding2D(KernelFrames / 2, KernelFrames / 2, 0, 0), DType);
}

/// <summary>
/// The arguments of a temporal convolution: <c>output = conv_t(x, weight) + bias + residual</c> over videos folded into
/// the batch (the <see cref="IOps.TemporalConv"/> contract, plus where the result goes).
/// </summary>
/// <param name="X">(B * F, H, W, Cin), contiguous, F16, BF16 or F32 (every tensor argument of that one dtype).</param>
/// <param name="Frames">F.</param>
/// <param name="Weight">[Cout, Cin, kt, 1, 1] (<see cref="ConvWeightLayout.Torch"/>) or [Cout, kt, Cin] (<see cref="ConvWeightLayout.Packed"/>).</param>
/// <param name="WeightLayout">Which of the two <paramref name="Weight"/> is.</param>
/// <param name="Bias">Optional [Cout].</param>
/// <param name="Residual">Optional (B * F, H, W, Cout); may be the output itself.</param>
/// <param name="Output">(B * F, H, W, Cout).</param>
public sealed record TemporalConvArgs(Tensor X, int Frames, Tensor Weight, ConvWeightLayout WeightLayout, Tensor? Bias, Tensor? Residual, Tensor Output);

/// <summary>A temporal (kt, 1, 1) convolution on the GPU; swappable like <see cref="IConv2dOp"/>, and like it never allocating.</summary>
public interface ITemporalConvOp
{
    /// <summary>A short name for reports.</summary>
    string Name { get; }

    /// <summary>The workspace that runs the whole convolution in as few chunks as the implementation allows.</summary>
    long WorkspaceBytes(TemporalConvShape shape);

    /// <summary>The smallest workspace that works at all.</summary>
    long MinimumWorkspaceBytes(TemporalConvShape shape);

    /// <summary>Enqueues the convolution on the context's stream.</summary>
    void Run(CudaOpContext context, TemporalConvArgs args, Tensor workspace);
}

/// <summary>
/// A temporal convolution run as the 2-D convolution it is (<see cref="TemporalConvShape.AsConv2d"/>): x (B * F, H, W,
/// Cin) is viewed, without a copy, as B images (F, H * W, Cin); the filter as kt x 1; frames -1 and F are the zero
/// padding rows. With <see cref="Im2colConv2dOp"/> that is a temporal im2col (K = kt * Cin), one GEMM and the epilogue
/// per chunk. Same workspace rule as the 2-D op it wraps.
/// </summary>
/// <param name="conv">The 2-D convolution that does the work.</param>
public sealed class TemporalConvAsConv2dOp(IConv2dOp conv) : ITemporalConvOp
{
    private readonly IConv2dOp _conv = conv ?? throw new ArgumentNullException(nameof(conv));

    /// <inheritdoc/>
    public string Name => $"temporal-as-{_conv.Name}";

    /// <inheritdoc/>
    public long WorkspaceBytes(TemporalConvShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return _conv.WorkspaceBytes(shape.AsConv2d());
    }

    /// <inheritdoc/>
    public long MinimumWorkspaceBytes(TemporalConvShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return _conv.MinimumWorkspaceBytes(shape.AsConv2d());
    }

    /// <summary>
    /// Checks the arguments (with <see cref="IOps.TemporalConv"/>'s messages) and returns the 2-D convolution that
    /// computes them: views of x, the filter, the residual and the output.
    /// </summary>
    public static Conv2dArgs AsConv2d(TemporalConvArgs args)
    {
        const string Op = "TemporalConv";
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(args.X);
        ArgumentNullException.ThrowIfNull(args.Weight);
        ArgumentNullException.ThrowIfNull(args.Output);
        var dtype = OpArguments.RequireGemmOperands(Op, (args.X, "x"), (args.Weight, "weight"), (args.Bias, "bias"), (args.Residual, "residual"), (args.Output, "output"));

        var weight = args.Weight;
        if (args.WeightLayout == ConvWeightLayout.Packed)
        {
            OpShapes.RequireRank(Op, "weight", weight, 3, "[Cout, kt, Cin] (packed)");
            OpShapes.RequireRank(Op, "x", args.X, 4, "(B * F, H, W, Cin)");
            if (weight.Shape[2] != args.X.Shape[3] || weight.Shape[1] % 2 == 0)
            {
                throw OpShapes.Fail(Op, $"packed weight {weight.Shape} must be [Cout, kt, {args.X.Shape[3]}] with kt odd for x {args.X.Shape}.");
            }

            weight = weight.Reshape(weight.Shape[0], weight.Shape[1], weight.Shape[2], 1, 1).Permute(0, 2, 1, 3, 4);
        }

        var outShape = OpShapes.TemporalConv(args.X, args.Frames, weight, args.Bias, args.Residual);
        if (args.Output.Shape != outShape)
        {
            throw OpShapes.Fail(Op, $"output must be {outShape} for x {args.X.Shape} and weight {args.Weight.Shape}, got {args.Output.Shape}.");
        }

        var (videos, pixels) = (args.X.Shape[0] / args.Frames, args.X.Shape[1] * args.X.Shape[2]);
        var (cout, kt) = (weight.Shape[0], weight.Shape[2]);
        var filter = args.WeightLayout == ConvWeightLayout.Packed
            ? args.Weight.Reshape(cout, kt, 1, args.X.Shape[3])
            : args.Weight.Reshape(cout, args.X.Shape[3], kt, 1);
        return new Conv2dArgs(
            args.X.Reshape(videos, args.Frames, pixels, args.X.Shape[3]),
            filter,
            args.WeightLayout,
            args.Bias,
            1,
            new Padding2D(kt / 2, kt / 2, 0, 0),
            null,
            args.Residual?.Reshape(videos, args.Frames, pixels, cout),
            args.Output.Reshape(videos, args.Frames, pixels, cout));
    }

    /// <inheritdoc/>
    public void Run(CudaOpContext context, TemporalConvArgs args, Tensor workspace) => _conv.Run(context, AsConv2d(args), workspace);
}
