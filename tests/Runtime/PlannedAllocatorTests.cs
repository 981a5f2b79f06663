using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Runtime;

public sealed class PlannedAllocatorTests
{
    private sealed class Addressed(ulong address, long bytes) : TensorStorage
    {
        public ulong Address => address;

        public override long ByteLength => bytes;

        public override MemoryKind Kind => MemoryKind.Device;
    }

    private static (ArenaPlan, PlannedAllocator) Make()
    {
        var plan = new ArenaPlan();
        plan.Add("Conv2d#0", 4 * 2 * 3 * 2, 0, 1);
        plan.Add("Silu#1", 4 * 2 * 3 * 2, 1, 2);
        plan.Add("Conv2d#2", 4 * 2 * 3 * 2, 2, 3);
        plan.Pack();
        return (plan, new PlannedAllocator(plan, id => 0x1000UL + (ulong)plan.OffsetOf(id), (a, b) => new Addressed(a, b)));
    }

    [Fact]
    public void Replays_the_plan_at_its_offsets_and_restarts()
    {
        var (plan, allocator) = Make();
        var shape = new TensorShape(4, 2, 3);
        var first = allocator.Allocate("Conv2d", DType.F16, shape);
        var second = allocator.Allocate("Silu", DType.F16, shape);
        var third = allocator.Allocate("Conv2d", DType.F16, shape);
        Assert.True(allocator.Complete);
        Assert.Equal(0x1000UL + (ulong)plan.OffsetOf(0), ((Addressed)first.Storage).Address);
        Assert.Equal(((Addressed)first.Storage).Address, ((Addressed)third.Storage).Address); // #0 is dead when #2 is born
        Assert.NotEqual(((Addressed)first.Storage).Address, ((Addressed)second.Storage).Address);
        allocator.Restart();
        Assert.Equal(0, allocator.Position);
    }

    [Fact]
    public void A_run_that_leaves_its_plan_is_stopped_with_both_sides_named()
    {
        var (_, allocator) = Make();
        var e = Assert.Throws<InvalidOperationException>(() => allocator.Allocate("Conv2d", DType.F16, new TensorShape(4, 2, 4)));
        Assert.Contains("Conv2d#0 of 48 bytes", e.Message, StringComparison.Ordinal);
        Assert.Contains("64 bytes", e.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => allocator.Allocate("Gelu", DType.F16, new TensorShape(4, 2, 3)));
    }
}
