using System.Runtime.InteropServices;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda;

/// <summary>The parameters of SamplerStep.cu's predict entry points (48 bytes; mirrors <c>struct SamplerPredictParams</c>).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct SamplerPredictParams
{
    /// <summary>Device address of the model output's element 0.</summary>
    public ulong ModelOutput;

    /// <summary>Device address of the fp32 latents (read).</summary>
    public ulong Latents;

    /// <summary>Device address of the fp32 prediction (written).</summary>
    public ulong Prediction;

    /// <summary>Latent elements.</summary>
    public long Count;

    /// <summary>1 when the model output holds the unconditional half, then the conditional half.</summary>
    public int Guided;

    /// <summary>The guidance scale g.</summary>
    public float Guidance;

    /// <summary>a, the latents' weight.</summary>
    public float SampleWeight;

    /// <summary>b, the (guided) model output's weight.</summary>
    public float OutputWeight;
}

/// <summary>The parameters of SamplerStep.cu's combine entry points (104 bytes; mirrors <c>struct SamplerCombineParams</c>).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct SamplerCombineParams
{
    /// <summary>Device address of the fp32 latents (read and written).</summary>
    public ulong Latents;

    /// <summary>Device address of this step's fp32 prediction, or 0.</summary>
    public ulong History0;

    /// <summary>Device address of the previous prediction, or 0.</summary>
    public ulong History1;

    /// <summary>Device address of the prediction before that, or 0.</summary>
    public ulong History2;

    /// <summary>Device address of the fp32 last sample, or 0.</summary>
    public ulong Last;

    /// <summary>Device address of the next UNet input, or 0 for none.</summary>
    public ulong Copy;

    /// <summary>Latent elements.</summary>
    public long Count;

    /// <summary>How many times the next input is written to the copy, one after another.</summary>
    public int Copies;

    /// <summary>1 when the base sample comes from the corrector's weights.</summary>
    public int Correct;

    /// <summary>The base sample's weight in the update.</summary>
    public float UpdateSample;

    /// <summary>History entry 0's weight in the update.</summary>
    public float UpdateHistory0;

    /// <summary>History entry 1's weight in the update.</summary>
    public float UpdateHistory1;

    /// <summary>History entry 2's weight in the update.</summary>
    public float UpdateHistory2;

    /// <summary>The last sample's weight in the corrector.</summary>
    public float CorrectLast;

    /// <summary>History entry 0's weight in the corrector.</summary>
    public float CorrectHistory0;

    /// <summary>History entry 1's weight in the corrector.</summary>
    public float CorrectHistory1;

    /// <summary>History entry 2's weight in the corrector.</summary>
    public float CorrectHistory2;

    /// <summary>The next UNet input's factor.</summary>
    public float InputScale;

    private readonly int _padding;
}

/// <summary>
/// Launcher of SamplerStep.cu: a multistep sampler's step as two elementwise kernels on the fp32 latents, with the
/// same float32 operations in the same order as <see cref="SamplerUpdate"/> (so the results equal the CPU's bit for
/// bit): the prediction (guidance and conversion into a history slot), then the combination (new latents, UniPC's
/// corrected last sample, and the next UNet input rounded to the model dtype).
/// </summary>
public static class SamplerStepKernel
{
    /// <summary>The source file.</summary>
    public const string SourceFile = "SamplerStep.cu";

    /// <summary>The entry points this launcher uses.</summary>
    public static IReadOnlyList<string> EntryPoints { get; } =
    [
        "sampler_step_predict_f32", "sampler_step_predict_f16", "sampler_step_predict_bf16",
        "sampler_step_combine_f32", "sampler_step_combine_f16", "sampler_step_combine_bf16",
    ];

    /// <summary>Plans the prediction, or returns null when the latents have no element.</summary>
    /// <param name="modelOutput">The UNet output in F32, F16 or BF16: the latents' shape, or guided twice as many items along axis 0, the unconditional half first.</param>
    /// <param name="latents">F32 latents x (read).</param>
    /// <param name="prediction">F32 tensor of the latents' shape (written).</param>
    /// <param name="settings">The weights and the guidance scale.</param>
    /// <param name="maxBlocks">The grid's cap.</param>
    public static KernelLaunch<SamplerPredictParams>? PlanPredict(Tensor modelOutput, Tensor latents, Tensor prediction, SamplerPrediction settings, int maxBlocks = ElementwiseGrid.DefaultMaxBlocks)
    {
        const string Op = "SamplerPredict";
        ArgumentNullException.ThrowIfNull(modelOutput);
        var x = Latents(Op, latents);
        var suffix = ElementwiseGrid.Suffix(modelOutput.DType, nameof(modelOutput));
        var output = LaunchChecks.Exactly(Op, nameof(modelOutput), modelOutput, modelOutput.DType, OpShapes.Repeated(latents.Shape, settings.Guidance is null ? 1 : 2));
        var target = LaunchChecks.Exactly(Op, nameof(prediction), prediction, DType.F32, latents.Shape);
        LaunchChecks.Disjoint(Op, nameof(prediction), prediction, target, nameof(modelOutput), modelOutput, output);
        LaunchChecks.Disjoint(Op, nameof(prediction), prediction, target, nameof(latents), latents, x);
        var parameters = new SamplerPredictParams
        {
            ModelOutput = output,
            Latents = x,
            Prediction = target,
            Count = latents.ElementCount,
            Guided = settings.Guidance is null ? 0 : 1,
            Guidance = settings.Guidance ?? 0f,
            SampleWeight = settings.SampleWeight,
            OutputWeight = settings.OutputWeight,
        };
        return latents.ElementCount == 0
            ? null
            : new KernelLaunch<SamplerPredictParams>(SourceFile, $"sampler_step_predict_{suffix}", ElementwiseGrid.For(latents.ElementCount, maxBlocks), parameters);
    }

    /// <summary>Plans the combination, or returns null when the latents have no element.</summary>
    /// <param name="latents">F32 latents x, replaced by the new latents.</param>
    /// <param name="history">F32 tensors of the latents' shape, newest first, at least as many as the combination weighs and at most 3.</param>
    /// <param name="combination">The weights and the input scale.</param>
    /// <param name="last">F32 last sample (read by a corrector, replaced by the base sample), or null.</param>
    /// <param name="copy">Receives the next UNet input in F32, F16 or BF16: the latents' shape repeated k &gt;= 1 times along axis 0, or null.</param>
    /// <param name="maxBlocks">The grid's cap.</param>
    public static KernelLaunch<SamplerCombineParams>? PlanCombine(Tensor latents, IReadOnlyList<Tensor> history, SamplerCombination combination, Tensor? last = null, Tensor? copy = null, int maxBlocks = ElementwiseGrid.DefaultMaxBlocks)
    {
        const string Op = "SamplerCombine";
        ArgumentNullException.ThrowIfNull(history);
        var x = Latents(Op, latents);
        if (history.Count > SamplerUpdate.MaxHistory || history.Count < combination.HistoryUsed)
        {
            throw OpShapes.Fail(Op, $"the combination weighs {combination.HistoryUsed} history entries (at most {SamplerUpdate.MaxHistory}); {history.Count} history tensors were given.");
        }

        var slots = new ulong[SamplerUpdate.MaxHistory];
        for (var k = 0; k < history.Count; k++)
        {
            slots[k] = LaunchChecks.Exactly(Op, $"history[{k}]", history[k], DType.F32, latents.Shape);
            LaunchChecks.Disjoint(Op, $"history[{k}]", history[k], slots[k], nameof(latents), latents, x);
        }

        var update = combination.Update;
        var correction = combination.Correction ?? default;
        var parameters = new SamplerCombineParams
        {
            Latents = x,
            History0 = slots[0],
            History1 = slots[1],
            History2 = slots[2],
            Count = latents.ElementCount,
            Correct = combination.Correction is null ? 0 : 1,
            UpdateSample = update.Sample,
            UpdateHistory0 = update.History0,
            UpdateHistory1 = update.History1,
            UpdateHistory2 = update.History2,
            CorrectLast = correction.Sample,
            CorrectHistory0 = correction.History0,
            CorrectHistory1 = correction.History1,
            CorrectHistory2 = correction.History2,
            InputScale = combination.InputScale,
        };
        if (last is not null)
        {
            parameters.Last = LaunchChecks.Exactly(Op, nameof(last), last, DType.F32, latents.Shape);
            LaunchChecks.Disjoint(Op, nameof(last), last, parameters.Last, nameof(latents), latents, x);
            for (var k = 0; k < history.Count; k++)
            {
                LaunchChecks.Disjoint(Op, nameof(last), last, parameters.Last, $"history[{k}]", history[k], slots[k]);
            }
        }
        else if (combination.Correction is not null)
        {
            throw OpShapes.Fail(Op, "a combination with a corrector reads the last sample; last is null.");
        }

        var suffix = "f32";
        if (copy is not null)
        {
            suffix = ElementwiseGrid.Suffix(copy.DType, nameof(copy));
            var copies = latents.Shape[0] == 0 || copy.Shape.Rank != latents.Shape.Rank ? 0 : copy.Shape[0] / latents.Shape[0];
            parameters.Copy = LaunchChecks.Exactly(Op, nameof(copy), copy, copy.DType, OpShapes.Repeated(latents.Shape, Math.Max(copies, 1)));
            parameters.Copies = Math.Max(copies, 1);
            LaunchChecks.Disjoint(Op, nameof(copy), copy, parameters.Copy, nameof(latents), latents, x);
        }

        return latents.ElementCount == 0
            ? null
            : new KernelLaunch<SamplerCombineParams>(SourceFile, $"sampler_step_combine_{suffix}", ElementwiseGrid.For(latents.ElementCount, maxBlocks), parameters);
    }

    private static ulong Latents(string op, Tensor latents)
    {
        ArgumentNullException.ThrowIfNull(latents);
        if (latents.DType != DType.F32 || latents.Shape.Rank < 1)
        {
            throw OpShapes.Fail(op, $"latents must be F32 of rank 1 or more, got {latents.DType} {latents.Shape}.");
        }

        return LaunchChecks.Device(op, nameof(latents), latents);
    }
}
