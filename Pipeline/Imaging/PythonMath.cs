namespace CudaI2V.Pipeline.Imaging;

/// <summary>Python's float arithmetic where the pipeline's sizes depend on it.</summary>
public static class PythonMath
{
    /// <summary>
    /// Python's <c>a // b</c> on floats, as CPython computes it (from fmod, so that e.g. 704 // 0.55 is 1279,
    /// not 1280).
    /// </summary>
    public static double FloorDivide(double a, double b)
    {
        var mod = a % b;          // C fmod
        var div = (a - mod) / b;
        if (mod != 0 && (b < 0) != (mod < 0))
        {
            div -= 1.0;
        }

        if (div == 0)
        {
            return Math.CopySign(0.0, a / b);
        }

        var floor = Math.Floor(div);
        return div - floor > 0.5 ? floor + 1.0 : floor;
    }

    /// <summary>Python's <c>round(x)</c> to an integer: half to even.</summary>
    public static long Round(double x) => (long)Math.Round(x, MidpointRounding.ToEven);
}
