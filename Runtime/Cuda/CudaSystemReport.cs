using CudaI2V.Native.Blas;
using CudaI2V.Native.Driver;
using CudaI2V.Native.Errors;
using CudaI2V.Native.Loading;
using CudaI2V.Native.Nvrtc;

namespace CudaI2V.Runtime.Cuda;

/// <summary>
/// What this machine offers CudaI2V: the driver and its devices, NVRTC and cuBLAS, the files loaded and, for whatever
/// is missing, why (every place looked). Gathering it never throws for a missing piece; it is what <c>cudai2v info</c> prints.
/// </summary>
/// <param name="DriverVersion">The CUDA version the driver supports (13000 = 13.0), or null without a driver.</param>
/// <param name="Devices">The GPUs.</param>
/// <param name="DriverProblem">Why there is no driver or no device, or null.</param>
/// <param name="DriverPlaces">Where the driver was looked for (when it was not found).</param>
/// <param name="NvrtcVersion">NVRTC's version, or null.</param>
/// <param name="NvrtcArchitectures">The architectures NVRTC can compile for.</param>
/// <param name="NvrtcProblem">Why NVRTC is unusable, or null.</param>
/// <param name="CublasVersion">cuBLAS's version, or null.</param>
/// <param name="CublasLtVersion">cuBLASLt's version, or null.</param>
/// <param name="BlasProblem">Why cuBLAS or cuBLASLt is unusable, or null.</param>
/// <param name="Libraries">Every file loaded, with its path.</param>
public sealed record CudaSystemReport(
    int? DriverVersion,
    IReadOnlyList<CudaDeviceInfo> Devices,
    string? DriverProblem,
    IReadOnlyList<string> DriverPlaces,
    Version? NvrtcVersion,
    IReadOnlyList<int> NvrtcArchitectures,
    string? NvrtcProblem,
    Version? CublasVersion,
    Version? CublasLtVersion,
    string? BlasProblem,
    IReadOnlyList<LoadedLibrary> Libraries)
{
    /// <summary>Looks at everything, loading what it finds.</summary>
    public static CudaSystemReport Gather()
    {
        int? driverVersion = null;
        var devices = new List<CudaDeviceInfo>();
        string? driverProblem = null;
        IReadOnlyList<string> driverPlaces = [];
        try
        {
            driverVersion = CudaDriver.DriverVersion();
            NativeLibraries.MaxCudaMajor = driverVersion / 1000;
            CudaDriver.Initialize();
            var count = CudaDriver.DeviceCount();
            for (var i = 0; i < count; i++)
            {
                devices.Add(CudaDeviceInfo.Query(i));
            }

            if (count == 0)
            {
                driverProblem = "the driver reports no CUDA device";
            }
        }
        catch (CudaLibraryNotFoundException e)
        {
            driverProblem = CudaLibraryNotFoundException.Headline(CudaLibrary.Driver);
            driverPlaces = e.Places;
        }
        catch (CudaException e)
        {
            driverProblem = e.Message; // e.g. cuInit failed: CUDA_ERROR_NO_DEVICE
        }

        Version? nvrtc = null;
        IReadOnlyList<int> architectures = [];
        string? nvrtcProblem = null;
        try
        {
            nvrtc = NvrtcCompiler.Version();
            architectures = NvrtcCompiler.SupportedArchitectures();
        }
        catch (CudaLibraryNotFoundException e)
        {
            nvrtcProblem = CudaLibraryNotFoundException.Headline(e.Library);
        }
        catch (CudaException e)
        {
            nvrtcProblem = e.Message;
        }

        Version? cublas = null, cublasLt = null;
        string? blasProblem = null;
        try
        {
            cublasLt = CublasLt.LibraryVersion();
            cublas = Cublas.LibraryVersion();
        }
        catch (CudaLibraryNotFoundException e)
        {
            blasProblem = CudaLibraryNotFoundException.Headline(e.Library);
        }
        catch (CudaException e)
        {
            blasProblem = e.Message;
        }

        return new CudaSystemReport(
            driverVersion, devices, driverProblem, driverPlaces, nvrtc, architectures, nvrtcProblem, cublas, cublasLt, blasProblem, NativeLibraries.Loaded);
    }
}
