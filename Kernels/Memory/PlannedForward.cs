using CudaI2V.Kernels.Planning;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Memory;

/// <summary>What planning one forward found (<see cref="PlannedForward.Record"/>).</summary>
/// <param name="Arena">Every tensor the forward's ops create, packed by liveness.</param>
/// <param name="Flops">The floating-point operations it counts (multiply-adds as two).</param>
/// <param name="FlopsByCategory"><paramref name="Flops"/> by <see cref="OpCategories"/> family.</param>
/// <param name="Ops">How many ops it runs.</param>
public sealed record ForwardPlan(ArenaPlan Arena, double Flops, IReadOnlyDictionary<string, double> FlopsByCategory, int Ops);

/// <summary>
/// One forward run on a planned arena, the one way the engine runs release-sized work on any backend: plan it without
/// touching a device (<see cref="Record"/>: the forward runs through <see cref="PlanningOps"/> on shape-only tensors and
/// its tensors are packed by liveness), take the arena (<see cref="Create"/>, refused up front when it does not fit),
/// then run it as often as needed (<see cref="Run(Func{Tensor})"/>), optionally replayed as a graph. The UNet step and the VAE decode
/// are thin uses of it (docs/architecture.md, "Memory").
/// </summary>
/// <remarks>
/// With graphs the first run is direct (on the GPU it compiles the kernels and builds the GEMM plans, which a capture
/// must not do), the second captures the forward and replays it, and every later run replays that recording. So the
/// forward must read its per-call inputs from fixed buffers (copy new values in with <see cref="IOps.CopyInto"/>), and
/// later calls' <c>forward</c> delegates are not run, only the recorded one.
/// </remarks>
public sealed class PlannedForward : IDisposable
{
    private readonly IBackendMemory _memory;
    private readonly IPlannedArena _arena;
    private readonly bool _graphs;
    private readonly Dictionary<int, IForwardGraph> _recorded = [];
    private readonly Dictionary<int, int> _runs = [];

    private PlannedForward(IBackendMemory memory, ForwardPlan plan, IPlannedArena arena, bool graphs)
    {
        _memory = memory;
        Plan = plan;
        _arena = arena;
        _graphs = graphs;
    }

    /// <summary>What planning found.</summary>
    public ForwardPlan Plan { get; }

    /// <summary>Whether runs from the second on replay a graph.</summary>
    public bool UsesGraph => _graphs;

    /// <summary>
    /// Plans a forward in <paramref name="dtype"/> without touching a device: <paramref name="setup"/> binds the model to
    /// the given recorder (shape-only weights, conditioning computed once) and returns the forward to plan; only what that
    /// forward creates is planned (tensors made during setup are its inputs from outside the arena).
    /// </summary>
    public static ForwardPlan Record(DType dtype, Func<PlanningOps, Func<Tensor>> setup)
    {
        ArgumentNullException.ThrowIfNull(setup);
        var planning = new PlanningOps(dtype);
        var forward = setup(planning);
        planning.BeginRecording();
        var output = forward();
        var arena = planning.Plan(output);
        return new ForwardPlan(arena, planning.Flops, new Dictionary<string, double>(planning.FlopsByCategory), planning.Steps);
    }

    /// <summary>
    /// Takes the arena of <paramref name="plan"/> from <paramref name="ops"/>' memory, keeping <paramref name="reserve"/>
    /// bytes free beside it; <paramref name="name"/> names it in messages. With <paramref name="over"/> (a forward of at
    /// least this one's arena that never runs at the same time), the arena lies in that forward's memory and nothing
    /// is allocated (<see cref="IBackendMemory.TakeArena"/>).
    /// </summary>
    /// <exception cref="ArenaOutOfMemoryException">The plan does not fit.</exception>
    public static PlannedForward Create(IOps ops, ForwardPlan plan, long reserve, string name, bool graphs = false, PlannedForward? over = null)
    {
        ArgumentNullException.ThrowIfNull(ops);
        ArgumentNullException.ThrowIfNull(plan);
        return new PlannedForward(ops.Memory, plan, ops.Memory.TakeArena(plan.Arena, reserve, name, over?._arena), graphs);
    }

    /// <summary>Runs the planned forward (or replays its graph); the output stays valid until the next run.</summary>
    public Tensor Run(Func<Tensor> forward) => Run(forward, 0);

    /// <summary>
    /// Runs one of several forwards that share the plan (the same ops on the same shapes, reading different inputs,
    /// such as the two halves of a guided batch run one after the other), each with its own graph, numbered by
    /// <paramref name="variant"/>; the output stays valid until the next run of any variant.
    /// </summary>
    public Tensor Run(Func<Tensor> forward, int variant)
    {
        ArgumentNullException.ThrowIfNull(forward);
        var runs = _runs.GetValueOrDefault(variant);
        _runs[variant] = runs + 1;
        if (!_graphs || runs == 0)
        {
            return _arena.Run(forward);
        }

        if (!_recorded.TryGetValue(variant, out var graph))
        {
            graph = _memory.Capture(() => _arena.Run(forward));
            _recorded[variant] = graph;
        }

        return graph.Replay();
    }

    /// <summary>Runs the forward by direct launches, graphs or not (what a replay is compared with).</summary>
    public Tensor RunDirect(Func<Tensor> forward)
    {
        ArgumentNullException.ThrowIfNull(forward);
        return _arena.Run(forward);
    }

    /// <summary>Releases the graph and the arena (after queued work that uses them).</summary>
    public void Dispose()
    {
        foreach (var graph in _recorded.Values)
        {
            graph.Dispose();
        }

        _arena.Dispose();
    }
}
