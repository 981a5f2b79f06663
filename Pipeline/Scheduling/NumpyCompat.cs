namespace CudaI2V.Pipeline.Scheduling;

/// <summary>
/// The few numpy routines diffusers' set_timesteps uses, reproduced in numpy's float64 arithmetic and order so the
/// timesteps come out identical (numpy's round is round-half-to-even, Math.Round's default).
/// </summary>
internal static class NumpyCompat
{
    /// <summary>
    /// np.arange(start, stop, step) for floats: ceil((stop - start) / step) elements; element 0 is start, element 1
    /// start + step, and element i &gt;= 2 is start + i * ((start + step) - start), as numpy's fill computes them.
    /// </summary>
    public static double[] Arange(double start, double stop, double step)
    {
        var length = (long)Math.Ceiling((stop - start) / step);
        if (length <= 0)
        {
            return [];
        }

        var values = new double[length];
        var delta = (start + step) - start;
        for (var i = 0; i < length; i++)
        {
            values[i] = i switch
            {
                0 => start,
                1 => start + step,
                _ => start + (i * delta),
            };
        }

        return values;
    }

    /// <summary>
    /// np.linspace(start, stop, num) in float64: element i is i * ((stop - start) / (num - 1)) + start, the last is stop
    /// exactly; one element is [start].
    /// </summary>
    public static double[] Linspace(double start, double stop, int num)
    {
        var values = new double[num];
        if (num == 1)
        {
            values[0] = start;
            return values;
        }

        var step = (stop - start) / (num - 1);
        for (var i = 0; i < num; i++)
        {
            values[i] = (i * step) + start;
        }

        values[^1] = stop;
        return values;
    }

    /// <summary>
    /// np.interp(x, arange(len(table)), table) for one x in float64: table[j] at a whole x = j, the straight line
    /// between neighbours in between (slope * (x - j) + table[j]), and the end values outside the table.
    /// </summary>
    public static double Interp(double x, IReadOnlyList<float> table)
    {
        if (!(x > 0))
        {
            return table[0];
        }

        if (x >= table.Count - 1)
        {
            return table[^1];
        }

        var j = (int)Math.Floor(x);
        if (x == j)
        {
            return table[j];
        }

        var slope = (double)table[j + 1] - table[j];
        return (slope * (x - j)) + table[j];
    }
}
