using CudaI2V.Kernels.Cuda;
using CudaI2V.Native.Blas;
using CudaI2V.Native.Driver;
using CudaI2V.Native.Errors;
using CudaI2V.Native.Loading;
using CudaI2V.Native.Nvrtc;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Compilation;
using CudaI2V.Runtime.Cuda;

namespace CudaI2V.Tests.Support;

/// <summary>
/// Decides, once per test run, whether GPU tests can run, and says which probe step failed when they cannot
/// ("the CUDA driver (libcuda.so.1) was not found", "cuInit failed: CUDA_ERROR_NO_DEVICE ...", "no CUDA device").
/// A test calls <see cref="Require"/> (or <see cref="RequireNvrtc"/>, <see cref="RequireCublas"/>): without what it
/// needs it is skipped with that reason, or fails when <c>CUDAI2V_REQUIRE_GPU=1</c> (the GPU machine's setting).
/// GPU test classes carry <c>[Collection("GPU")]</c> (one at a time) and <c>[Trait("Category", "GPU")]</c>, so a
/// device script can run exactly them: <c>CudaI2V.Tests.dll -trait Category=GPU</c>.
/// </summary>
public static class GpuProbe
{
    /// <summary>The switch that turns a missing GPU into a failure.</summary>
    public const string RequireVariable = "CUDAI2V_REQUIRE_GPU";

    private static readonly Lazy<(GpuSession? Session, string Reason)> Gpu = new(Open);
    private static readonly Lazy<string?> NvrtcProblem = new(ProbeNvrtc);
    private static readonly Lazy<string?> BlasProblem = new(ProbeBlas);

    /// <summary>True when <c>CUDAI2V_REQUIRE_GPU=1</c>.</summary>
    public static bool GpuRequired => Environment.GetEnvironmentVariable(RequireVariable) == "1";

    /// <summary>
    /// True when device-check runs the tests under compute-sanitizer (it sets CUDAI2V_UNDER_SANITIZER=1). The sanitizer
    /// manages device memory itself: under memcheck on an H200 (2026-11-26) the driver's free count dropped by less
    /// than an allocation's size, or not at all, so checks of the free count hold only outside it.
    /// </summary>
    public static bool UnderSanitizer => Environment.GetEnvironmentVariable("CUDAI2V_UNDER_SANITIZER") == "1";

    /// <summary>True when a GPU session could be opened (no skip, no failure).</summary>
    public static bool IsAvailable => Gpu.Value.Session is not null;

    /// <summary>The shared GPU session, or skips (fails when required) with the probe's reason.</summary>
    public static GpuSession Require()
    {
        var (session, reason) = Gpu.Value;
        if (session is null)
        {
            Unavailable(reason);
        }

        return session!;
    }

    /// <summary>Skips (fails when required) unless NVRTC loads; no GPU needed.</summary>
    public static void RequireNvrtc()
    {
        if (NvrtcProblem.Value is { } reason)
        {
            Unavailable(reason);
        }
    }

    /// <summary>The shared GPU session with cuBLAS and cuBLASLt loaded, or a skip naming what is missing.</summary>
    public static GpuSession RequireCublas()
    {
        var session = Require();
        if (BlasProblem.Value is { } reason)
        {
            Unavailable(reason);
        }

        return session;
    }

    private static void Unavailable(string reason)
    {
        if (GpuRequired)
        {
            Assert.Fail($"{RequireVariable}=1 but {reason}");
        }

        Assert.Skip(reason);
    }

    private static (GpuSession?, string) Open()
    {
        var driver = NativeLibraries.Load(CudaLibrary.Driver);
        if (!driver.Found)
        {
            return (null, $"GPU probe: {CudaLibraryNotFoundException.Headline(CudaLibrary.Driver)} ({driver.Places.Count} places looked; see 'cudai2v info')");
        }

        try
        {
            CudaDriver.Initialize();
            if (CudaDriver.DeviceCount() == 0)
            {
                return (null, "GPU probe: no CUDA device (the driver loaded but reports none)");
            }

            return (new GpuSession(CudaContext.Open()), "");
        }
        catch (CudaException e)
        {
            return (null, $"GPU probe: {e.Message}");
        }
    }

    private static string? ProbeNvrtc()
    {
        try
        {
            _ = NvrtcCompiler.Version();
            return null;
        }
        catch (CudaLibraryNotFoundException e)
        {
            return $"NVRTC probe: {CudaLibraryNotFoundException.Headline(e.Library)} (Debian: apt-get install libnvrtc11.2 from non-free)";
        }
    }

    private static string? ProbeBlas()
    {
        try
        {
            _ = CublasLt.LibraryVersion();
            _ = Cublas.LibraryVersion();
            return null;
        }
        catch (CudaLibraryNotFoundException e)
        {
            return $"cuBLAS probe: {CudaLibraryNotFoundException.Headline(e.Library)}";
        }
    }
}

/// <summary>
/// What GPU tests share: the primary context of device 0, one stream, a kernel compiler caching in a temporary
/// folder, the launchers' module cache and a transfer object. Made once per test run and never disposed (the
/// process exit releases the context); GPU test classes run one at a time (the "GPU" collection).
/// </summary>
public sealed class GpuSession
{
    internal GpuSession(CudaContext context)
    {
        Context = context;
        Stream = new CudaStream(context);
        CacheFolder = Fixtures.TempFolder("gpu-kernels");
        Compiler = new KernelCompiler(new CacheRoot(CacheFolder));
        Kernels = new CudaKernels(context, Compiler);
        Transfer = new TensorTransfer(context);
    }

    /// <summary>Device 0's primary context.</summary>
    public CudaContext Context { get; }

    /// <summary>A non-blocking stream.</summary>
    public CudaStream Stream { get; }

    /// <summary>The kernel cache's temporary root.</summary>
    public string CacheFolder { get; }

    /// <summary>The kernel compiler (its counters are shared by every GPU test).</summary>
    public KernelCompiler Compiler { get; }

    /// <summary>The launchers' module cache.</summary>
    public CudaKernels Kernels { get; }

    /// <summary>Host/device copies.</summary>
    public TensorTransfer Transfer { get; }
}

/// <summary>GPU tests run one class at a time: they share one stream and one context.</summary>
[CollectionDefinition("GPU", DisableParallelization = true)]
public sealed class GpuTestGroup
{
}
