using CudaI2V.Loader.Configs;

namespace CudaI2V.Pipeline.Scheduling;

/// <summary>
/// DDIMScheduler.set_timesteps: the inference timesteps, largest first, with numpy's float64 arithmetic and
/// round-half-to-even (Math.Round's default) reproduced exactly.
/// </summary>
internal static class InferenceTimesteps
{
    /// <summary>The <paramref name="steps"/> timesteps for <paramref name="spacing"/> (1 &lt;= steps &lt;= trainSteps is the caller's check).</summary>
    public static int[] Compute(TimestepSpacing spacing, int trainSteps, int steps, int stepsOffset) => spacing switch
    {
        TimestepSpacing.Leading => Leading(trainSteps, steps, stepsOffset),
        TimestepSpacing.Trailing => Trailing(trainSteps, steps),
        TimestepSpacing.Linspace => Linspace(trainSteps, steps),
        _ => throw new ArgumentOutOfRangeException(nameof(spacing), spacing, "Unknown timestep spacing."),
    };

    /// <summary>"leading": (arange(0, n) * (T // n))[::-1] + steps_offset, all integer arithmetic.</summary>
    private static int[] Leading(int trainSteps, int steps, int stepsOffset)
    {
        var ratio = trainSteps / steps;
        var result = new int[steps];
        for (var i = 0; i < steps; i++)
        {
            result[i] = ((steps - 1 - i) * ratio) + stepsOffset;
        }

        return result;
    }

    /// <summary>
    /// "trailing": round(np.arange(T, 0, -T / n)) - 1. numpy's float arange has ceil((0 - T) / (-T / n)) elements,
    /// element 0 = T, element 1 = T + delta, and element i = T + i * ((T + delta) - T) for i &gt;= 2. For some n
    /// (61, 103, ... with T = 1000) the quotient rounds just above n and numpy yields one element more, whose
    /// timestep is -1; diffusers then runs a step at t = -1. We keep the first n timesteps, which diffusers'
    /// are for every n.
    /// </summary>
    private static int[] Trailing(int trainSteps, int steps)
    {
        double start = trainSteps, delta = -(trainSteps / (double)steps);
        var spacing = (start + delta) - start;
        var result = new int[steps];
        for (var i = 0; i < steps; i++)
        {
            var value = i switch
            {
                0 => start,
                1 => start + delta,
                _ => start + (i * spacing),
            };
            result[i] = (int)Math.Round(value) - 1;
        }

        return result;
    }

    /// <summary>
    /// "linspace": np.linspace(0, T - 1, n).round()[::-1]. numpy computes element i as i * ((T - 1) / (n - 1)) and
    /// sets the last to T - 1 exactly; with one step the only element is 0. steps_offset is not added (as in diffusers).
    /// </summary>
    private static int[] Linspace(int trainSteps, int steps)
    {
        double stop = trainSteps - 1;
        var result = new int[steps];
        if (steps == 1)
        {
            return result;
        }

        var step = stop / (steps - 1);
        for (var i = 0; i < steps; i++)
        {
            var value = i == steps - 1 ? stop : i * step;
            result[steps - 1 - i] = (int)Math.Round(value);
        }

        return result;
    }
}
