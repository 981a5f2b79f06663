using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Memory;

/// <summary>
/// Where a backend's tensors live and for how long: the one memory capability every backend implements (the CPU
/// reference, the planning recorder and the GPU), so that the engine runs one code path on all of them. See
/// docs/architecture.md ("Memory").
/// </summary>
/// <remarks>
/// <para>
/// Four things, in the order a request uses them. <b>Weights</b> are uploaded once into one block
/// (<see cref="UploadWeightsInto"/>). <b>Scopes</b> free what a piece of work allocated when it ends
/// (<see cref="BeginScope"/>). A <b>planned arena</b> holds the activations of one forward, planned before any work
/// by running the forward through <c>PlanningOps</c>: while <see cref="IPlannedArena.Run{T}"/> runs, every tensor an
/// op creates is taken from the arena in plan order, so the forward allocates nothing. A <b>graph</b> records a
/// forward once and replays it (<see cref="Capture"/>): on the GPU a CUDA graph, on the CPU the forward run again.
/// </para>
/// <para>
/// Uploads (<see cref="IOps.FromHost"/>) are never planned: they land in the weight block while one is open, else in
/// the current scope.
/// </para>
/// </remarks>
public interface IBackendMemory
{
    /// <summary>
    /// Starts a scope: the tensors allocated until it is disposed (outside any arena) are freed then, after queued
    /// work that reads them has finished. Scopes end in the reverse order they began.
    /// </summary>
    IMemoryScope BeginScope();

    /// <summary>
    /// Uploads what follows (a model's weights, until the returned object is disposed) into one block sized for tensors
    /// of <paramref name="shapes"/> in the backend's activation dtype. The block lives as long as the backend. Uploads
    /// that outgrow it are allocated apart and counted in <see cref="WeightBlockOverflow"/>.
    /// </summary>
    IDisposable UploadWeightsInto(IEnumerable<TensorShape> shapes);

    /// <summary>
    /// Uploads what follows, until <see cref="IWeightBlock.EndUpload"/>, into a block of its own sized as
    /// <see cref="UploadWeightsInto"/> sizes one, which the caller frees by disposing it (after queued work that reads it
    /// has finished): a component's weights released after use, and loaded again into a new block when next needed.
    /// </summary>
    IWeightBlock UploadReleasableWeightsInto(IEnumerable<TensorShape> shapes);

    /// <summary>Bytes of weights that did not fit their block (0 when it was sized right).</summary>
    long WeightBlockOverflow { get; }

    /// <summary>
    /// The bytes planned work may still take now: the device's free memory on the GPU, the memory the operating system
    /// reports available on the host, unlimited for the planning recorder.
    /// </summary>
    long AvailableBytes { get; }

    /// <summary>Where <see cref="AvailableBytes"/> lives, for messages ("NVIDIA H200 (device 0)", "host memory").</summary>
    string Description { get; }

    /// <summary>
    /// Takes the arena of <paramref name="plan"/> (packed if it is not yet), keeping <paramref name="reserve"/> bytes
    /// free beside it for the libraries; <paramref name="name"/> names it in messages. With <paramref name="over"/>
    /// (an arena of this memory at least as large), the new arena lies in that one's memory and nothing is allocated:
    /// for two forwards that never run at once, whose outputs are read before the other runs.
    /// </summary>
    /// <exception cref="ArenaOutOfMemoryException">The plan and the reserve do not fit in <see cref="AvailableBytes"/>.</exception>
    IPlannedArena TakeArena(ArenaPlan plan, long reserve, string name, IPlannedArena? over = null);

    /// <summary>
    /// Records <paramref name="forward"/>'s work for replay. Nothing runs yet; each <see cref="IForwardGraph.Replay"/>
    /// runs the work and returns its output. The work must read its per-call inputs from buffers whose address does not
    /// change (copy new values in with <see cref="IOps.CopyInto"/> before a replay) and must allocate only from an arena.
    /// Queued work is waited for first, so that what a warm-up run compiled and planned is ready.
    /// </summary>
    IForwardGraph Capture(Func<Tensor> forward);

    /// <summary>
    /// Starts copying <paramref name="x"/> to the host after the work queued so far, without waiting for it: the engine
    /// reads a step's non-finite counts one step late, so that reading never stalls the next step.
    /// </summary>
    IPendingHostCopy CopyToHostLater(Tensor x);

    /// <summary>Waits until all queued work has finished.</summary>
    void Synchronize();
}

/// <summary>A block of weights its owner frees (<see cref="IBackendMemory.UploadReleasableWeightsInto"/>); disposing frees it and every weight in it.</summary>
public interface IWeightBlock : IDisposable
{
    /// <summary>Ends the upload into the block (later uploads go where they would have gone); the weights stay until disposal.</summary>
    void EndUpload();
}

/// <summary>Memory freed together (<see cref="IBackendMemory.BeginScope"/>).</summary>
public interface IMemoryScope : IDisposable
{
    /// <summary>Moves <paramref name="tensor"/>'s memory to the enclosing scope, so that it outlives this one; returns it.</summary>
    Tensor Keep(Tensor tensor);
}

/// <summary>The activations of one planned forward (<see cref="IBackendMemory.TakeArena"/>); disposing frees them.</summary>
public interface IPlannedArena : IDisposable
{
    /// <summary>The packed plan.</summary>
    ArenaPlan Plan { get; }

    /// <summary>
    /// Runs <paramref name="forward"/> (the planned forward) with every tensor an op creates taken from the arena in plan
    /// order; the tensors stay valid until the next run. A forward that differs from its plan throws at the first
    /// difference, naming both.
    /// </summary>
    T Run<T>(Func<T> forward);
}

/// <summary>A forward recorded once (<see cref="IBackendMemory.Capture"/>); disposing releases the recording.</summary>
public interface IForwardGraph : IDisposable
{
    /// <summary>Runs the recorded work again and returns its output (the same tensor at every replay).</summary>
    Tensor Replay();
}

/// <summary>A copy to the host that may still be running (<see cref="IBackendMemory.CopyToHostLater"/>).</summary>
public interface IPendingHostCopy
{
    /// <summary>Waits for the copy and returns the host tensor (the source's dtype and shape).</summary>
    Tensor Wait();
}
