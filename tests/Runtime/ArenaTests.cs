using CudaI2V.Runtime.Memory;

namespace CudaI2V.Tests.Runtime;

/// <summary>Arena planning and packing against a fake allocator (no GPU needed).</summary>
public sealed class ArenaTests
{
    private sealed class FakeAllocator(long free, long total = 80L << 30) : IDeviceAllocator
    {
        public List<long> Allocations { get; } = [];

        public int Freed { get; private set; }

        public string Description => "a fake GPU";

        public (long Free, long Total) MemoryInfo() => (free, total);

        public IDeviceAllocation Allocate(long bytes)
        {
            Allocations.Add(bytes);
            return new Block(0x7f00_0000_0000, bytes, () => Freed++);
        }

        private sealed class Block(ulong address, long bytes, Action free) : IDeviceAllocation
        {
            public ulong Address => address;

            public long Bytes => bytes;

            public void Dispose() => free();
        }
    }

    [Fact]
    public void Buffers_alive_at_different_times_share_bytes()
    {
        var plan = new ArenaPlan();
        var a = plan.Add("a", 1000, 0, 1);
        var b = plan.Add("b", 1000, 2, 3);
        Assert.Equal(1024, plan.Pack());
        Assert.Equal(plan.OffsetOf(a), plan.OffsetOf(b));
        Assert.Equal(1024, plan.LiveLowerBound);
    }

    [Fact]
    public void Buffers_alive_together_never_overlap()
    {
        var plan = new ArenaPlan();
        var random = new Random(5);
        for (var i = 0; i < 200; i++)
        {
            var start = random.Next(0, 50);
            plan.Add($"t{i}", random.Next(1, 100_000), start, start + random.Next(0, 10));
        }

        var peak = plan.Pack();
        foreach (var x in plan.Buffers)
        {
            Assert.Equal(0, x.Offset % ArenaPlan.Alignment);
            Assert.True(x.Offset + x.Bytes <= peak);
            foreach (var y in plan.Buffers.Where(y => y.Id > x.Id && y.FirstUse <= x.LastUse && x.FirstUse <= y.LastUse))
            {
                Assert.True(x.Offset + x.Bytes <= y.Offset || y.Offset + y.Bytes <= x.Offset, $"{x} overlaps {y}");
            }
        }

        Assert.True(peak >= plan.LiveLowerBound);
        Assert.True(peak < plan.Buffers.Sum(b => b.Bytes + ArenaPlan.Alignment), "packing reused nothing");
    }

    [Fact]
    public void The_arena_is_one_allocation_of_the_planned_peak()
    {
        var plan = new ArenaPlan();
        var x = plan.Add("x", 4096, 0, 2);
        var y = plan.Add("y", 512, 1, 3);
        var allocator = new FakeAllocator(free: 1L << 30);
        using (var arena = DeviceArena.Create(plan, allocator))
        {
            Assert.Equal([plan.Peak], allocator.Allocations);
            Assert.Equal(plan.Peak, arena.Bytes);
            Assert.Equal(0x7f00_0000_0000UL + (ulong)plan.OffsetOf(y), arena.AddressOf(y));
            Assert.NotEqual(arena.AddressOf(x), arena.AddressOf(y));
        }

        Assert.Equal(1, allocator.Freed);
    }

    [Fact]
    public void A_plan_that_does_not_fit_fails_before_allocating_and_says_what_it_needs()
    {
        var plan = new ArenaPlan();
        plan.Add("down_blocks.0.attn", 3L << 30, 0, 1);
        var allocator = new FakeAllocator(free: 2L << 30);
        var e = Assert.Throws<ArenaOutOfMemoryException>(() => DeviceArena.Create(plan, allocator, reserve: 256L << 20));
        Assert.Empty(allocator.Allocations);
        Assert.Contains("need 3.00 GiB", e.Message, StringComparison.Ordinal);
        Assert.Contains("2.00 GiB free", e.Message, StringComparison.Ordinal);
        Assert.Contains("down_blocks.0.attn", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_lifetimes_and_late_additions_are_refused()
    {
        var plan = new ArenaPlan();
        Assert.Throws<ArgumentException>(() => plan.Add("x", 10, 5, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => plan.Add("x", -1, 0, 0));
        plan.Add("x", 10, 0, 0);
        plan.Pack();
        Assert.Throws<InvalidOperationException>(() => plan.Add("y", 10, 0, 0));
        Assert.Throws<InvalidOperationException>(() => new ArenaPlan().OffsetOf(0));
    }
}
