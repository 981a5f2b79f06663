using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cpu;

/// <summary>The scheduler's ops: the DDIM update, the non-finite count, and copying into a fixed buffer.</summary>
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

    /// <inheritdoc/>
    public void CountNonFinite(Tensor x, Tensor counter)
    {
        ArgumentNullException.ThrowIfNull(counter);
        if (counter.DType != DType.I64 || counter.ElementCount != 1 || counter.Storage.Kind != MemoryKind.Host)
        {
            throw OpShapes.Fail(nameof(CountNonFinite), $"counter must be one I64 host element, got {counter}.");
        }

        counter.AsSpan<long>()[0] = CountNonFinite(x);
    }

    /// <inheritdoc/>
    public void CopyInto(Tensor source, Tensor destination)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        if (source.DType != destination.DType || source.Shape != destination.Shape || !destination.IsContiguous || destination.Storage.Kind != MemoryKind.Host)
        {
            throw OpShapes.Fail(nameof(CopyInto), $"the destination must be a contiguous {source.DType} {source.Shape} host tensor, got {destination}.");
        }

        source.Contiguous().AsBytes().CopyTo(destination.AsBytes());
    }
}
