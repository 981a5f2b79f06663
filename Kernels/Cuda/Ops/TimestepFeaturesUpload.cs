using CudaI2V.Kernels.Cpu;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda.Ops;

/// <summary>
/// <see cref="IOps.TimestepFeatures"/> for the GPU, computed on the host by the CPU reference itself and uploaded: a
/// few hundred values per row, made once per schedule (the time embeddings of every step) or per request (the fps
/// embedding), never inside a captured step. The host path is the float32 op order the reference documents, so the
/// values are the reference's bit for bit before the one rounding to the device dtype; a kernel would have to
/// reproduce correctly rounded exp, sin and cos to promise the same.
/// </summary>
public static class TimestepFeaturesUpload
{
    private static readonly CpuOps Reference = new();

    /// <summary>
    /// The features of <paramref name="timesteps"/> as a host tensor (timesteps.Length, features) of
    /// <paramref name="dtype"/> (F32, F16 or BF16): the reference's fp32 values rounded once to nearest even.
    /// </summary>
    public static Tensor OnHost(ReadOnlySpan<float> timesteps, int features, bool flipSinToCos, float downscaleFreqShift, float maxPeriod, DType dtype)
    {
        ElementwiseGrid.Suffix(dtype, nameof(dtype));
        return Reference.TimestepFeatures(timesteps, features, flipSinToCos, downscaleFreqShift, maxPeriod).To(dtype);
    }

    /// <summary>
    /// Enqueues uploading the features into <paramref name="output"/>, a contiguous device tensor
    /// (timesteps.Length, features) of F32, F16 or BF16. Returns once the host values have been staged.
    /// </summary>
    public static void Run(
        TensorTransfer transfer,
        CudaStream stream,
        ReadOnlySpan<float> timesteps,
        int features,
        bool flipSinToCos,
        float downscaleFreqShift,
        float maxPeriod,
        Tensor output)
    {
        const string Op = nameof(IOps.TimestepFeatures);
        ArgumentNullException.ThrowIfNull(transfer);
        ArgumentNullException.ThrowIfNull(output);
        var shape = OpShapes.TimestepFeatures(timesteps.Length, features, downscaleFreqShift, maxPeriod);
        LaunchChecks.Exactly(Op, nameof(output), output, output.DType, shape);
        transfer.Upload(OnHost(timesteps, features, flipSinToCos, downscaleFreqShift, maxPeriod, output.DType), output, stream);
    }
}
