using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cpu;

/// <summary>The scheduler's ops: the DDIM update and the non-finite count.</summary>
public sealed partial class CpuOps
{
    /// <inheritdoc/>
    public void DdimStep(Tensor modelOutput, Tensor latents, DdimStepSettings settings, Tensor? noise = null, Tensor? nextInput = null)
    {
        var copies = OpShapes.DdimStep(modelOutput, latents, settings, noise, nextInput, ActivationDType);
        Require(nameof(DdimStep), nameof(modelOutput), modelOutput);
        Require(nameof(DdimStep), nameof(latents), latents);
        Require(nameof(DdimStep), nameof(noise), noise);
        Require(nameof(DdimStep), nameof(nextInput), nextInput);
        var x = latents.AsSpan<float>();
        DdimUpdate.Apply(settings, modelOutput.AsSpan<float>(), x, x, noise is null ? default : noise.AsSpan<float>());
        if (nextInput is not null)
        {
            var target = nextInput.AsSpan<float>();
            for (var r = 0; r < copies; r++)
            {
                x.CopyTo(target.Slice(r * x.Length, x.Length));
            }
        }
    }

    /// <inheritdoc/>
    public long CountNonFinite(Tensor x)
    {
        Require(nameof(CountNonFinite), nameof(x), x);
        var count = 0L;
        foreach (var v in x.AsSpan<float>())
        {
            if (!float.IsFinite(v))
            {
                count++;
            }
        }

        return count;
    }
}
