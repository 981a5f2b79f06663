using CudaI2V.Kernels.Cpu;
using CudaI2V.Kernels.Cuda.Backend;
using CudaI2V.Layers.Vae;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Gpu;

/// <summary>
/// The VAE on the second, fp32 CUDA backend the engine makes beside an fp16 one (<see cref="VideoEngineLoader.CreateVaeBackend"/>)
/// against the CPU backend: fp32 against fp32, so the bar is tight (skipped without a GPU; failing under CUDAI2V_REQUIRE_GPU=1).
/// </summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuVaePrecisionTests
{
    /// <summary>
    /// Both sides compute in fp32 from the same weights and latents; they differ only in summation order (cuBLAS against
    /// the CPU's loops) and in expf/erff against .NET's, a few ulp per op over the tiny VAE's dozen layers. A TF32 or
    /// fp16 step anywhere would be 1e-3 or more.
    /// </summary>
    private const double MaxRel = 1e-4;

    [Fact]
    public void An_fp32_vae_beside_an_fp16_backend_decodes_like_the_cpu()
    {
        var gpu = GpuProbe.Require();
        var folder = Fixtures.ComponentModel("vae-tiny");
        var config = VaeConfig.Load(Path.Combine(folder, "config.json"));
        using var io = SafetensorsFile.Open(Fixtures.Path("vae-tiny", "io.safetensors"));
        var latents = io.GetTensor("decode.input").To(DType.F32).Permute(0, 2, 3, 1).Contiguous();      // (N, h, w, latent)
        using var weights = WeightSet.Open("vae", [Path.Combine(folder, "diffusion_pytorch_model.safetensors")], WeightAliases.LegacyVaeAttention);
        var cpu = new CpuOps();
        var expected = cpu.ToHost(AutoencoderKL.Load(cpu, weights, config).Decode(cpu.FromHost(latents)));

        using var ops = new CudaOps(gpu.Context);
        Tensor actual;
        var log = new List<string>();
        using (var vaeOps = Assert.IsType<CudaOps>(VideoEngineLoader.CreateVaeBackend(ops, VaePrecision.Auto, config, log: log.Add)))
        {
            Assert.Equal((DType.F32, DType.F16), (vaeOps.ActivationDType, ops.ActivationDType));
            Assert.Same(ops.Context, vaeOps.Context);
            Assert.Contains("VAE in F32 (the VAE config's force_upcast) on a second CUDA backend", Assert.Single(log), StringComparison.Ordinal);
            using var gpuWeights = WeightSet.Open("vae", [Path.Combine(folder, "diffusion_pytorch_model.safetensors")], WeightAliases.LegacyVaeAttention);
            var vae = AutoencoderKL.Load(vaeOps, gpuWeights, config);
            Assert.Same(vaeOps, vae.Ops);
            actual = vaeOps.ToHost(vae.Decode(vaeOps.FromHost(latents), chunk: 1));
        }

        var result = TensorComparison.Compare(actual, expected);
        Assert.True(result.MaxRel <= MaxRel && result.Nmse <= 1e-9, $"fp32 GPU VAE against the CPU: {result}");
        var diffusers = TensorComparison.Compare(actual.Permute(0, 3, 1, 2).Contiguous(), io.GetTensor("decode.output").To(DType.F32));
        Assert.True(diffusers.Passes(1e-4), $"fp32 GPU VAE against diffusers (the CPU's bar): {diffusers}");

        // The fp32 backend is gone and the context it shared still works for the first.
        var probe = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 2, 2);
        Assert.Equal(probe.ToFloat32Array(), ops.ToHost(ops.FromHost(probe)).ToFloat32Array());
    }
}
