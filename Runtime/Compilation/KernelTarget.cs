namespace CudaI2V.Runtime.Compilation;

/// <summary>
/// What NVRTC compiles for: a CUBIN for one real architecture (<c>sm_90</c>: machine code, loads with no JIT), or
/// PTX for a virtual one (<c>compute_90</c>: the driver JIT-compiles it for any device of that architecture or newer).
/// </summary>
/// <param name="Architecture">10 * major + minor compute capability (90).</param>
/// <param name="Cubin">True for a CUBIN, false for PTX.</param>
public readonly record struct KernelTarget(int Architecture, bool Cubin)
{
    /// <summary>NVRTC's name for the target: <c>sm_90</c> or <c>compute_90</c>.</summary>
    public string Name => Cubin ? $"sm_{Architecture}" : $"compute_{Architecture}";

    /// <summary>
    /// The target for a device: its exact architecture as a CUBIN when this NVRTC knows it; otherwise (NVRTC older
    /// than the device) PTX for the newest architecture NVRTC knows below the device, which the driver JIT-compiles
    /// forward. An empty <paramref name="nvrtcArchitectures"/> (NVRTC before 11.2 cannot list them) means "try the CUBIN".
    /// </summary>
    public static KernelTarget ForDevice(int deviceArchitecture, IReadOnlyList<int> nvrtcArchitectures)
    {
        ArgumentNullException.ThrowIfNull(nvrtcArchitectures);
        if (nvrtcArchitectures.Count == 0 || nvrtcArchitectures.Contains(deviceArchitecture))
        {
            return new KernelTarget(deviceArchitecture, Cubin: true);
        }

        var below = nvrtcArchitectures.Where(a => a < deviceArchitecture).ToList();
        if (below.Count == 0)
        {
            throw new NotSupportedException(
                $"This NVRTC compiles for sm_{nvrtcArchitectures.Min()} to sm_{nvrtcArchitectures.Max()}; the device is sm_{deviceArchitecture}, which is older.");
        }

        return new KernelTarget(below.Max(), Cubin: false);
    }

    /// <inheritdoc/>
    public override string ToString() => Name;
}
