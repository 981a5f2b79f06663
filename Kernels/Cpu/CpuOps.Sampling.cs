using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cpu;

/// <summary>The multistep samplers' two ops, in plain fp32 through <see cref="SamplerUpdate"/>.</summary>
public sealed partial class CpuOps
{
    /// <inheritdoc/>
    public void SamplerPredict(Tensor modelOutput, Tensor latents, Tensor prediction, SamplerPrediction settings)
    {
        OpShapes.SamplerPredict(modelOutput, latents, prediction, settings, ActivationDType);
        Require(nameof(SamplerPredict), nameof(modelOutput), modelOutput);
        Require(nameof(SamplerPredict), nameof(latents), latents);
        Require(nameof(SamplerPredict), nameof(prediction), prediction);
        RequireApart(nameof(SamplerPredict), nameof(prediction), prediction, nameof(modelOutput), modelOutput, nameof(latents), latents);
        SamplerUpdate.Predict(settings, modelOutput.AsSpan<float>(), latents.AsSpan<float>(), prediction.AsSpan<float>());
    }

    /// <inheritdoc/>
    public void SamplerCombine(Tensor latents, IReadOnlyList<Tensor> history, SamplerCombination combination, Tensor? lastSample = null, Tensor? nextInput = null)
    {
        var copies = OpShapes.SamplerCombine(latents, history, combination, lastSample, nextInput, ActivationDType);
        Require(nameof(SamplerCombine), nameof(latents), latents);
        Require(nameof(SamplerCombine), nameof(lastSample), lastSample);
        Require(nameof(SamplerCombine), nameof(nextInput), nextInput);
        for (var k = 0; k < history.Count; k++)
        {
            Require(nameof(SamplerCombine), $"history[{k}]", history[k]);
            RequireApart(nameof(SamplerCombine), $"history[{k}]", history[k], nameof(latents), latents, nameof(lastSample), lastSample);
        }

        RequireApart(nameof(SamplerCombine), nameof(latents), latents, nameof(lastSample), lastSample, nameof(nextInput), nextInput);
        ReadOnlySpan<float> Slot(int k) => k < history.Count ? history[k].AsSpan<float>() : default;
        var x = latents.AsSpan<float>();
        SamplerUpdate.Combine(combination, x, Slot(0), Slot(1), Slot(2), lastSample is null ? default : lastSample.AsSpan<float>());
        if (nextInput is not null)
        {
            var target = nextInput.AsSpan<float>();
            var scale = combination.InputScale;
            for (var r = 0; r < copies; r++)
            {
                var copy = target.Slice(r * x.Length, x.Length);
                for (var i = 0; i < x.Length; i++)
                {
                    copy[i] = scale * x[i];
                }
            }
        }
    }

    /// <summary>Refuses a written tensor that shares storage with another argument (the update reads them element by element).</summary>
    private static void RequireApart(string op, string name, Tensor written, string otherName, Tensor? other, string thirdName, Tensor? third)
    {
        foreach (var (n, t) in new[] { (otherName, other), (thirdName, third) })
        {
            if (t is not null && ReferenceEquals(t.Storage, written.Storage))
            {
                throw OpShapes.Fail(op, $"{name} and {n} share memory; they must be separate tensors.");
            }
        }
    }
}
