using CudaI2V.Loader.Configs;

namespace CudaI2V.Pipeline.Scheduling;

/// <summary>
/// The inference timesteps of diffusers' multistep schedulers (0.29.2) for each timestep_spacing, in numpy's float64
/// arithmetic, and Karras et al.'s sigmas. DPMSolverMultistepScheduler and UniPCMultistepScheduler space n + 1
/// points and drop the last; EulerDiscreteScheduler spaces n points as DDIM does, in float32.
/// </summary>
internal static class SamplerTimesteps
{
    /// <summary>
    /// DPM-Solver++ / UniPC: "linspace" round(np.linspace(0, last - 1, n + 1))[::-1][:-1]; "leading"
    /// (arange(0, n + 1) * (last // (n + 1)))[::-1][:-1] + steps_offset; "trailing" round(np.arange(last, 0, -T / n)) - 1.
    /// <paramref name="last"/> is T, or for DPM-Solver++ with lambda_min_clipped the first clipped timestep. Where numpy's
    /// float arange gives "trailing" one element too many (a final t = -1, for example 61 of 1000 steps), only the first
    /// n are kept, as CudaI2V's DDIM does; with a clipped <paramref name="last"/> "trailing" may give fewer than n.
    /// </summary>
    public static int[] Multistep(TimestepSpacing spacing, int trainSteps, int last, int steps, int stepsOffset)
    {
        switch (spacing)
        {
            case TimestepSpacing.Linspace:
                var points = NumpyCompat.Linspace(0, last - 1, steps + 1);
                return Enumerable.Range(0, steps).Select(i => (int)Math.Round(points[steps - i])).ToArray();
            case TimestepSpacing.Leading:
                var ratio = last / (steps + 1);
                return Enumerable.Range(0, steps).Select(i => ((steps - i) * ratio) + stepsOffset).ToArray();
            case TimestepSpacing.Trailing:
                var values = NumpyCompat.Arange(last, 0, -(trainSteps / (double)steps));
                return values.Take(steps).Select(v => (int)Math.Round(v) - 1).ToArray();
            default:
                throw new ArgumentOutOfRangeException(nameof(spacing), spacing, "Unknown timestep spacing.");
        }
    }

    /// <summary>
    /// Euler: "linspace" float32(np.linspace(0, T - 1, n))[::-1] (fractional timesteps); "leading"
    /// (arange(0, n) * (T // n))[::-1] + steps_offset; "trailing" round(np.arange(T, 0, -T / n)) - 1, first n kept.
    /// </summary>
    public static float[] Euler(TimestepSpacing spacing, int trainSteps, int steps, int stepsOffset)
    {
        switch (spacing)
        {
            case TimestepSpacing.Linspace:
                var points = NumpyCompat.Linspace(0, trainSteps - 1, steps);
                return Enumerable.Range(0, steps).Select(i => (float)points[steps - 1 - i]).ToArray();
            case TimestepSpacing.Leading:
                var ratio = trainSteps / steps;
                return Enumerable.Range(0, steps).Select(i => (float)(((steps - 1 - i) * ratio) + stepsOffset)).ToArray();
            case TimestepSpacing.Trailing:
                var values = NumpyCompat.Arange(trainSteps, 0, -(trainSteps / (double)steps));
                return values.Take(steps).Select(v => (float)Math.Round(v) - 1f).ToArray();
            default:
                throw new ArgumentOutOfRangeException(nameof(spacing), spacing, "Unknown timestep spacing.");
        }
    }

    /// <summary>
    /// Karras et al.'s noise levels (rho = 7) in float64, largest first:
    /// (max^(1/7) + ramp_i * (min^(1/7) - max^(1/7)))^7 with ramp = np.linspace(0, 1, n).
    /// </summary>
    public static double[] Karras(double sigmaMin, double sigmaMax, int steps)
    {
        const double Rho = 7.0;
        var ramp = NumpyCompat.Linspace(0, 1, steps);
        var minInvRho = Math.Pow(sigmaMin, 1 / Rho);
        var maxInvRho = Math.Pow(sigmaMax, 1 / Rho);
        return ramp.Select(r => Math.Pow(maxInvRho + (r * (minInvRho - maxInvRho)), Rho)).ToArray();
    }
}
