using CudaI2V.Kernels.Cpu;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.MemoryPlanning;
using CudaI2V.Runtime.Memory;
using CudaI2V.Tests.Pipeline;

namespace CudaI2V.Tests.Memory;

/// <summary>
/// Two forwards that never run at once share one block (the full and the cached step under step caching): the smaller
/// arena is taken over the larger, allocating nothing, and the plan counts the larger only.
/// </summary>
public sealed class ArenaSharingTests
{
    [Fact]
    public void A_smaller_arena_lies_in_a_larger_ones_block_and_a_larger_one_is_refused()
    {
        var memory = new CpuOps().Memory;
        var large = new ArenaPlan();
        large.Add("a", 2 << 20, 0, 1);
        var small = new ArenaPlan();
        small.Add("b", 1 << 20, 0, 1);
        using var owner = memory.TakeArena(large, 0, "large arena");
        using (memory.TakeArena(small, 0, "small arena", over: owner))
        {
        }

        using var other = memory.TakeArena(small, 0, "small arena");
        var e = Assert.Throws<ArgumentException>(() => memory.TakeArena(large, 0, "large arena", over: other));
        Assert.Contains("take the larger first", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Under_step_caching_the_loop_counts_the_larger_step_arena_once()
    {
        var models = RequestMemoryTests.ReleaseModels();
        var caching = new StepCaching(2);
        var step = RequestMemory.PlanStep(models, 2, 16, 512, 512, 77, MemoryChoices.Default(1), caching);
        var cached = step.Cached!;
        var outside = step.ConditioningBytes + step.BufferBytes + step.DeepFeatureBytes + RequestMemory.Reserve;
        Assert.Equal(Math.Max(step.Arena.Peak, cached.Arena.Peak) + outside, step.LoopBytes);
        Assert.True(step.LoopBytes < step.Arena.Peak + cached.Arena.Peak + outside);
    }
}
