using CudaI2V.Kernels.Cpu;

namespace CudaI2V.Tests.Layers;

/// <summary>
/// Every module recorded in unet-tiny/blocks.safetensors (diffusers' inputs and outputs of one module of each
/// kind, 3 frames at 12x16) against the same module of our UNet on the CPU, fed the recorded inputs, so a mismatch
/// points at its block. <see cref="UNetBlocks"/> builds and feeds each module; the GPU runs the same ones.
/// </summary>
public sealed class UNetBlockTests(UNetBlockTests.Model model) : IClassFixture<UNetBlockTests.Model>
{
    private const double Tolerance = 1e-4;

    [Theory]
    [MemberData(nameof(UNetBlocks.Modules), MemberType = typeof(UNetBlocks))]
    public void Module_matches_diffusers(string module)
    {
        foreach (var output in model.Blocks.Run(module))
        {
            var result = output.Compare();
            Assert.True(result.Passes(Tolerance), $"{output.Name}: {result} (worst index {result.WorstIndex})");
        }
    }

    /// <summary>The tiny UNet and its recorded modules on the CPU.</summary>
    public sealed class Model : IDisposable
    {
        public UNetBlocks Blocks { get; } = new(new CpuOps());

        public void Dispose() => Blocks.Dispose();
    }
}
