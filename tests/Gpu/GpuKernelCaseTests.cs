using CudaI2V.Tests.Kernels.Cuda;
using CudaI2V.Tests.Kernels.Cuda.Cases;

namespace CudaI2V.Tests.Gpu;

/// <summary>
/// Every kernel case (<see cref="KernelCaseSuite"/>: normalisation, activations, adds, layout copies, resampling, the
/// DDIM step, the non-finite count, casts and fills) on a real GPU against the CPU backend, with NaN-poisoned outputs
/// (skipped without a GPU; failing under CUDAI2V_REQUIRE_GPU=1). The same cases run emulated on every machine
/// (<see cref="KernelCaseEmulationTests"/>).
/// </summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuKernelCaseTests : KernelCaseSuite
{
    private protected override IOpTestDevice NewDevice() => new GpuOpDevice(blas: false);
}
