using CudaI2V.Kernels.Cuda.Backend;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.MemoryPlanning;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Pipeline;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Gpu;

/// <summary>
/// A release-sized request against a real device's free memory, as the engine plans it before any work: the plan
/// fits, its arenas take what was planned, and with the card nearly full the same request is refused up front with
/// what would fit.
/// </summary>
[Collection("GPU")]
[Trait("Category", "GPU")]
public sealed class GpuRequestMemoryTests(ITestOutputHelper output)
{
    private const long GiB = 1L << 30;

    [Fact]
    public void A_release_request_takes_its_planned_arenas_and_is_refused_when_the_card_is_full()
    {
        var gpu = GpuProbe.Require();
        var models = RequestMemoryTests.ReleaseModels();
        using var ops = new CudaOps(gpu.Context, new CudaOpsOptions(DType.F16));
        using var vaeOps = new CudaOps(gpu.Context, new CudaOpsOptions(DType.F32));

        var free = gpu.Context.MemoryInfo().Free;
        var request = new MemoryRequest(2, 16, 704, 1280, 77, 50);
        var plan = MemoryPlanner.Plan(models, request, ComponentWeights.None, null, free, gpu.Context.ToString(), MemoryChoices.Default(1)).Request;
        output.WriteLine($"704x1280x16 on {gpu.Context}: {plan.Describe()}; {ArenaPlan.FormatBytes(free)} free");
        long taken;
        using (PlannedUNetStep.Create(ops, plan.Step))
        using (PlannedVaeDecode.Create(vaeOps, models.Vae, plan.Decode, plan.DecodeChunk, 704 / 8, 1280 / 8))
        {
            taken = free - gpu.Context.MemoryInfo().Free;
        }

        // The two arenas are the two planned peaks (the driver rounds each allocation up to its 2 MiB pages).
        output.WriteLine($"taken by the two arenas: {ArenaPlan.FormatBytes(taken)} (planned {ArenaPlan.FormatBytes(plan.Step.Arena.Peak + plan.Decode.Arena.Peak)})");
        Assert.InRange(taken, plan.Step.Arena.Peak + plan.Decode.Arena.Peak, plan.Step.Arena.Peak + plan.Decode.Arena.Peak + (4L << 20));

        // Fill the card until 512 MiB are free: the same request no longer fits even at the smallest choices and is refused before any work.
        var ballastPlan = new ArenaPlan();
        ballastPlan.Add("ballast", gpu.Context.MemoryInfo().Free - (GiB / 2), 0, 0);
        using var ballast = DeviceArena.Create(ballastPlan, new CudaDeviceAllocator(gpu.Context));
        var left = gpu.Context.MemoryInfo().Free;
        var e = Assert.Throws<ArenaOutOfMemoryException>(
            () => MemoryPlanner.Plan(models, request, ComponentWeights.None, null, left, gpu.Context.ToString()));
        output.WriteLine(e.Message);
        Assert.StartsWith("A 1280x704 video of 16 frames needs at least ", e.Message, StringComparison.Ordinal);
        Assert.Contains(" is free in ", e.Message, StringComparison.Ordinal);
    }
}
