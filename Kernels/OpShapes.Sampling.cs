using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels;

/// <summary>The argument checks of the multistep sampler ops (kept apart from the layer ops' checks in OpShapes.cs).</summary>
internal static partial class OpShapes
{
    /// <summary>Checks a sampler prediction's tensors and weights.</summary>
    public static void SamplerPredict(Tensor modelOutput, Tensor latents, Tensor prediction, SamplerPrediction settings, DType activation)
    {
        const string op = "SamplerPredict";
        ArgumentNullException.ThrowIfNull(modelOutput);
        ArgumentNullException.ThrowIfNull(prediction);
        RequireLatents(op, latents);
        if (!float.IsFinite(settings.SampleWeight) || !float.IsFinite(settings.OutputWeight) || settings.Guidance is { } g && !float.IsFinite(g))
        {
            throw Fail(op, $"the weights and the guidance scale must be finite numbers, got {settings}.");
        }

        RequireTyped(op, "modelOutput", modelOutput, activation, Repeated(latents.Shape, settings.Guidance is null ? 1 : 2));
        RequireTyped(op, "prediction", prediction, DType.F32, latents.Shape);
    }

    /// <summary>Checks a sampler combination's tensors and weights; returns how many copies of the new latents <paramref name="nextInput"/> holds (0 without one).</summary>
    public static int SamplerCombine(Tensor latents, IReadOnlyList<Tensor> history, SamplerCombination combination, Tensor? lastSample, Tensor? nextInput, DType activation)
    {
        const string op = "SamplerCombine";
        ArgumentNullException.ThrowIfNull(history);
        RequireLatents(op, latents);
        if (!combination.Update.IsFinite || combination.Correction is { IsFinite: false } || !float.IsFinite(combination.InputScale))
        {
            throw Fail(op, $"every weight and the input scale must be finite numbers, got {combination}.");
        }

        if (history.Count > SamplerUpdate.MaxHistory || history.Count < combination.HistoryUsed)
        {
            throw Fail(op, $"the combination weighs {combination.HistoryUsed} history entries (at most {SamplerUpdate.MaxHistory}); {history.Count} history tensors were given.");
        }

        for (var k = 0; k < history.Count; k++)
        {
            ArgumentNullException.ThrowIfNull(history[k], $"history[{k}]");
            RequireTyped(op, $"history[{k}]", history[k], DType.F32, latents.Shape);
        }

        if (lastSample is not null)
        {
            RequireTyped(op, "lastSample", lastSample, DType.F32, latents.Shape);
        }
        else if (combination.Correction is not null)
        {
            throw Fail(op, "a combination with a corrector reads the last sample; lastSample is null.");
        }

        if (nextInput is null)
        {
            return 0;
        }

        var copies = latents.Shape[0] == 0 || nextInput.Shape.Rank != latents.Shape.Rank ? 1 : Math.Max(nextInput.Shape[0] / latents.Shape[0], 1);
        RequireTyped(op, "nextInput", nextInput, activation, Repeated(latents.Shape, copies));
        return copies;
    }

    private static void RequireLatents(string op, Tensor latents)
    {
        ArgumentNullException.ThrowIfNull(latents);
        if (latents.DType != DType.F32 || latents.Shape.Rank < 1)
        {
            throw Fail(op, $"latents must be F32 of rank 1 or more (the sampler's precision), got {latents.DType} {latents.Shape}.");
        }
    }
}
