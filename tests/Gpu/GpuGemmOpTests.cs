using CudaI2V.Tests.Kernels.Cuda;
using CudaI2V.Tests.Kernels.Cuda.Cases;

namespace CudaI2V.Tests.Gpu;

/// <summary>
/// Every case of <see cref="GemmOpCases"/> on a real GPU: Im2col.cu, GemmEpilogue.cu, Softmax.cu and the cuBLAS and
/// cuBLASLt calls against the CPU backend on the same rounded inputs, with NaN-poisoned outputs and workspaces (skipped
/// without a GPU; failing under CUDAI2V_REQUIRE_GPU=1). The same cases run emulated on every machine
/// (<see cref="GemmOpEmulationTests"/>).
/// </summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuGemmOpTests : GemmOpSuite
{
    private protected override bool ChunksExact => false;

    private protected override IOpTestDevice NewDevice() => new GpuOpDevice();
}
