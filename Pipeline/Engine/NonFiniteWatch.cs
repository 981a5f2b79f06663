using CudaI2V.Kernels;
using CudaI2V.Kernels.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Engine;

/// <summary>A generation produced NaN or infinite values; the message says at which step and where.</summary>
public sealed class NonFiniteValuesException : Exception
{
    /// <summary>Creates the exception.</summary>
    public NonFiniteValuesException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public NonFiniteValuesException()
        : this("The generation produced non-finite values.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public NonFiniteValuesException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// Watches the denoising loop for NaN and infinity without stalling it: each step's counts are computed on the backend
/// into that step's own counters, copied to the host after the step (<see cref="IBackendMemory.CopyToHostLater"/>), and
/// read one step late, while the next step already runs. Users report black frames from I2VGen-XL in fp16 when
/// activations overflow; a bad step stops the run with a message naming it and what to try.
/// </summary>
internal sealed class NonFiniteWatch
{
    private readonly IOps _ops;
    private readonly Tensor _counters;
    private readonly string[] _places;
    private readonly IPendingHostCopy?[] _pending;
    private readonly float[] _timesteps;

    /// <summary>Counters for <paramref name="timesteps"/>.Count steps of one value per place in <paramref name="places"/>.</summary>
    public NonFiniteWatch(IOps ops, IReadOnlyList<float> timesteps, params string[] places)
    {
        _ops = ops;
        _places = places;
        _timesteps = [.. timesteps];
        _pending = new IPendingHostCopy?[timesteps.Count];
        _counters = ops.Empty(DType.I64, new TensorShape(timesteps.Count, places.Length));
    }

    /// <summary>Counts the non-finite values of <paramref name="values"/> at step <paramref name="step"/>, place <paramref name="place"/> (queued).</summary>
    public void Count(int step, int place, Tensor values) =>
        _ops.CountNonFinite(values, _counters.Slice(0, step, 1).Slice(1, place, 1));

    /// <summary>Ends step <paramref name="step"/>: starts copying its counts, and checks the previous step's.</summary>
    public void EndStep(int step)
    {
        _pending[step] = _ops.Memory.CopyToHostLater(_counters.Slice(0, step, 1));
        if (step > 0)
        {
            Check(step - 1);
        }
    }

    /// <summary>Checks the last step (after the loop).</summary>
    public void Finish()
    {
        if (_pending.Length > 0)
        {
            Check(_pending.Length - 1);
        }
    }

    private void Check(int step)
    {
        var counts = _pending[step]!.Wait().AsSpan<long>();
        for (var place = 0; place < _places.Length; place++)
        {
            if (counts[place] > 0)
            {
                var hint = _ops.ActivationDType == DType.F16
                    ? " The GPU backend runs in fp16, whose range is small: run it in bf16 (--dtype bf16, CudaOpsOptions.ActivationDType) or on the CPU."
                    : " Check the initial noise, the image and the model's weights.";
                throw new NonFiniteValuesException(
                    $"Step {step + 1} (t={_timesteps[step]}): {_places[place]} holds {counts[place]} non-finite value(s); the run was stopped.{hint}");
            }
        }
    }
}
