using CudaI2V.Kernels;
using CudaI2V.Kernels.Cpu;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels;

/// <summary>The CPU backend's watch (<see cref="IOps.Watch"/>): it counts ops, and a cancelled token stops the next op or the loop of the one running.</summary>
public sealed class OpWatchTests
{
    private static readonly TensorShape Image = new(1, 16, 16, 8);

    [Fact]
    public void Ops_are_counted_and_a_cancelled_token_stops_the_next_op()
    {
        IOps ops = new CpuOps();
        using var cancel = new CancellationTokenSource();
        var watch = new OpWatch(cancel.Token);
        var x = ops.FromHost(Tensor.Zeros(DType.F32, Image));
        using (ops.Watch(watch))
        {
            ops.Silu(ops.Silu(x));
            Assert.Equal(2, watch.OpsStarted);
            cancel.Cancel();
            Assert.ThrowsAny<OperationCanceledException>(() => _ = ops.Silu(x));
            Assert.Throws<InvalidOperationException>(() => ops.Watch(new OpWatch(CancellationToken.None)));
        }

        // Once the watch ends, the backend runs as before.
        Assert.Equal(Image, ops.Silu(x).Shape);
    }

    [Fact]
    public void A_token_cancelled_while_an_op_runs_stops_its_loop()
    {
        IOps ops = new CpuOps();
        using var cancel = new CancellationTokenSource();

        // The op passes its check, then the token is cancelled (from the op's own start, so the moment is exact): its
        // Parallel.For stops instead of finishing the convolution.
        var watch = new OpWatch(cancel.Token, cancel.Cancel);
        var x = ops.FromHost(Tensor.Zeros(DType.F32, Image));
        var weight = ops.UploadConvWeight(Tensor.Zeros(DType.F32, new TensorShape(8, 8, 3, 3)));
        using (ops.Watch(watch))
        {
            Assert.ThrowsAny<OperationCanceledException>(() => _ = ops.Conv2d(x, weight, null, 1, Padding2D.All(1)));
        }

        Assert.Equal(1, watch.OpsStarted);
    }

    [Fact]
    public void Backends_that_queue_work_ignore_the_watch_by_default()
    {
        IOps planning = new CudaI2V.Kernels.Planning.PlanningOps(DType.F16);
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        using (planning.Watch(new OpWatch(cancel.Token)))
        {
            Assert.Equal(Image, planning.Silu(planning.Empty(DType.F16, Image)).Shape);
        }

        Assert.Null(planning.AssumedFlopsPerSecond);
        Assert.NotNull(((IOps)new CpuOps()).AssumedFlopsPerSecond);
    }
}
