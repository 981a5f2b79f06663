using CudaI2V.Tests.Kernels.Cuda.Emulation;

namespace CudaI2V.Tests.Kernels.Cuda.Cases;

/// <summary>
/// Every case of <see cref="GemmOpCases"/> planned by the real op classes and executed by <see cref="EmulatedDevice"/>:
/// the views, leading dimensions, head offsets, chunk boundaries and epilogue indices the GPU will be handed produce
/// the CPU backend's results, and every output element is written. No GPU needed.
/// </summary>
public sealed class GemmOpEmulationTests : GemmOpSuite
{
    private protected override bool ChunksExact => true;

    private protected override IOpTestDevice NewDevice() => new EmulatedDevice();
}
