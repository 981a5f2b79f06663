using CudaI2V.Tests.Kernels.Cuda.Emulation;

namespace CudaI2V.Tests.Kernels.Cuda.Cases;

/// <summary>
/// Every kernel case planned by the real launchers and executed by <see cref="EmulatedDevice"/>'s mirrors of the
/// kernels: the grids, parameters, index arithmetic, workspace layouts and copy placements the GPU will be handed
/// produce the CPU backend's results (bit for bit where the kernel moves bits), on awkward shapes (odd pixel counts, one
/// frame, channels not a multiple of 8), and every output element is written. No GPU needed.
/// </summary>
public sealed class KernelCaseEmulationTests : KernelCaseSuite
{
    private protected override IOpTestDevice NewDevice() => new EmulatedDevice();
}
