using System.Runtime.InteropServices;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda;

/// <summary>The parameters of DdimStep.cu's entry points (88 bytes; mirrors <c>struct DdimStepParams</c>).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct DdimStepParams
{
    /// <summary>Device address of the model output's element 0.</summary>
    public ulong ModelOutput;

    /// <summary>Device address of the fp32 latents (read and written).</summary>
    public ulong Latents;

    /// <summary>Device address of the fp32 noise, or 0 for none.</summary>
    public ulong Noise;

    /// <summary>Device address of the copy for the next UNet input, or 0 for none.</summary>
    public ulong Copy;

    /// <summary>Latent elements.</summary>
    public long Count;

    /// <summary>How many times the new latents are written to the copy, one after another.</summary>
    public int Copies;

    /// <summary>1 when the model output holds the unconditional half, then the conditional half.</summary>
    public int Guided;

    /// <summary>The <see cref="DdimPrediction"/> as an int.</summary>
    public int Prediction;

    /// <summary>1 to clamp the predicted clean sample.</summary>
    public int Clip;

    /// <summary>The guidance scale g.</summary>
    public float Guidance;

    /// <summary>The clamp's bound.</summary>
    public float ClipRange;

    /// <summary>sqrt(alphas_cumprod[t]).</summary>
    public float SqrtAlphaProdT;

    /// <summary>sqrt(1 - alphas_cumprod[t]).</summary>
    public float SqrtBetaProdT;

    /// <summary>sqrt(alphas_cumprod[prev]).</summary>
    public float SqrtAlphaProdTPrev;

    /// <summary>sqrt(1 - alpha_prev - std_dev_t^2).</summary>
    public float DirectionCoefficient;

    /// <summary>eta * sqrt(variance).</summary>
    public float StdDevT;

    private readonly int _padding;
}

/// <summary>
/// Launcher of DdimStep.cu: classifier-free guidance and one DDIM step in one kernel, updating the fp32 latents on
/// the device in place with the same float32 operations in the same order as the host scheduler (so the results are
/// equal bit for bit), and writing the new latents, rounded to the model dtype, into the next UNet input.
/// </summary>
public static class DdimStepKernel
{
    /// <summary>The source file.</summary>
    public const string SourceFile = "DdimStep.cu";

    private const string Op = "DdimStep";

    /// <summary>The entry points this launcher uses.</summary>
    public static IReadOnlyList<string> EntryPoints { get; } = ["ddim_step_f32", "ddim_step_f16", "ddim_step_bf16"];

    /// <summary>
    /// Plans one step, or returns null when the latents have no element.
    /// </summary>
    /// <param name="modelOutput">
    /// The UNet output in F32, F16 or BF16: the latents' shape, or with <paramref name="guidance"/> twice as many items
    /// along axis 0, the unconditional half first.
    /// </param>
    /// <param name="latents">F32 latents x_t, replaced by x_prev.</param>
    /// <param name="coefficients">The step's scalars.</param>
    /// <param name="prediction">What the model predicts.</param>
    /// <param name="guidance">The guidance scale, or null when the output has no unconditional half.</param>
    /// <param name="clipRange">Clamp the predicted clean sample to ±this (diffusers' clip_sample), or null.</param>
    /// <param name="noise">F32 standard-normal values of the latents' shape, added with weight StdDevT; pass them exactly
    /// when eta &gt; 0 (as the host scheduler does), else null.</param>
    /// <param name="copy">Receives the new latents in the model output's dtype: the latents' shape repeated k &gt;= 1 times
    /// along axis 0 (k = 2 for a guided UNet input), or null.</param>
    /// <param name="maxBlocks">The grid's cap.</param>
    public static KernelLaunch<DdimStepParams>? Plan(
        Tensor modelOutput,
        Tensor latents,
        DdimCoefficients coefficients,
        DdimPrediction prediction,
        float? guidance,
        float? clipRange = null,
        Tensor? noise = null,
        Tensor? copy = null,
        int maxBlocks = ElementwiseGrid.DefaultMaxBlocks)
    {
        ArgumentNullException.ThrowIfNull(modelOutput);
        ArgumentNullException.ThrowIfNull(latents);
        if (!Enum.IsDefined(prediction))
        {
            throw new ArgumentOutOfRangeException(nameof(prediction), prediction, "Not a DDIM prediction type.");
        }

        if (latents.DType != DType.F32 || latents.Shape.Rank < 1)
        {
            throw OpShapes.Fail(Op, $"latents must be F32 of rank 1 or more, got {latents.DType} {latents.Shape}.");
        }

        var x = LaunchChecks.Device(Op, nameof(latents), latents);
        var suffix = ElementwiseGrid.Suffix(modelOutput.DType, nameof(modelOutput));
        var output = LaunchChecks.Exactly(Op, nameof(modelOutput), modelOutput, modelOutput.DType, OpShapes.Repeated(latents.Shape, guidance is null ? 1 : 2));
        LaunchChecks.Disjoint(Op, nameof(latents), latents, x, nameof(modelOutput), modelOutput, output);
        var parameters = new DdimStepParams
        {
            ModelOutput = output,
            Latents = x,
            Count = latents.ElementCount,
            Guided = guidance is null ? 0 : 1,
            Prediction = (int)prediction,
            Clip = clipRange is null ? 0 : 1,
            Guidance = guidance ?? 0f,
            ClipRange = clipRange ?? 0f,
            SqrtAlphaProdT = coefficients.SqrtAlphaProdT,
            SqrtBetaProdT = coefficients.SqrtBetaProdT,
            SqrtAlphaProdTPrev = coefficients.SqrtAlphaProdTPrev,
            DirectionCoefficient = coefficients.DirectionCoefficient,
            StdDevT = coefficients.StdDevT,
        };
        if (noise is not null)
        {
            parameters.Noise = LaunchChecks.Exactly(Op, nameof(noise), noise, DType.F32, latents.Shape);
            LaunchChecks.Disjoint(Op, nameof(latents), latents, x, nameof(noise), noise, parameters.Noise);
        }

        if (copy is not null)
        {
            var copies = latents.Shape[0] == 0 || copy.Shape.Rank != latents.Shape.Rank ? 0 : copy.Shape[0] / latents.Shape[0];
            parameters.Copy = LaunchChecks.Exactly(Op, nameof(copy), copy, modelOutput.DType, OpShapes.Repeated(latents.Shape, Math.Max(copies, 1)));
            parameters.Copies = Math.Max(copies, 1);
            LaunchChecks.Disjoint(Op, nameof(copy), copy, parameters.Copy, nameof(latents), latents, x);
            LaunchChecks.Disjoint(Op, nameof(copy), copy, parameters.Copy, nameof(modelOutput), modelOutput, output);
        }

        return latents.ElementCount == 0
            ? null
            : new KernelLaunch<DdimStepParams>(SourceFile, $"ddim_step_{suffix}", ElementwiseGrid.For(latents.ElementCount, maxBlocks), parameters);
    }
}
