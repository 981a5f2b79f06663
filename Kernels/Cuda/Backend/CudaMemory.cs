using CudaI2V.Kernels.Memory;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda.Backend;

/// <summary>
/// The CUDA backend's memory (<see cref="IBackendMemory"/>): where every tensor <see cref="CudaOps"/> creates comes from.
/// An op's output is taken from the planned arena while one runs (<see cref="IPlannedArena.Run{T}"/>), else allocated
/// on the device and owned by the innermost scope. Uploads go to the open weight block (those that outgrow it are freed with it), else to the current scope.
/// Everything allocated outside any scope (the weights) lives as long as the backend.
/// </summary>
/// <remarks>
/// Ops never allocate scratch: they share one <see cref="Workspace"/>, which is safe because they run one after another
/// on one stream. Scopes free their memory after waiting for the stream, so no queued kernel reads freed memory.
/// </remarks>
public sealed class CudaMemory : IBackendMemory, IDisposable
{
    private readonly CudaContext _context;
    private readonly CudaStream _stream;
    private readonly DeviceAllocation _workspace;
    private readonly AsyncDownloads _downloads;
    private readonly Stack<Scope> _scopes = new();
    private readonly Scope _root;
    private readonly DType _weightDType;
    private WeightBlock? _weights;

    internal CudaMemory(CudaContext context, CudaStream stream, long workspaceBytes, DType weightDType)
    {
        _context = context;
        _weightDType = weightDType;
        _stream = stream;
        _workspace = DeviceMemory.Allocate(context, Math.Max(workspaceBytes, 1L << 20));
        _downloads = new AsyncDownloads(context);
        _root = new Scope(this);
        _scopes.Push(_root);
    }

    /// <summary>Each weight's offset in a block is a multiple of this (cuBLAS and vector loads like 256-byte alignment).</summary>
    public const long WeightAlignment = 256;

    internal PlannedOutputs Outputs { get; } = new();

    /// <summary>The scratch block every op shares, as bytes.</summary>
    internal Tensor Workspace => _workspace.View(DType.U8, new TensorShape(checked((int)Math.Min(_workspace.ByteLength, int.MaxValue))));

    /// <summary>The scratch block viewed as <paramref name="elements"/> values of <paramref name="dtype"/>.</summary>
    internal Tensor WorkspaceAs(DType dtype, long elements) => _workspace.View(dtype, new TensorShape(checked((int)elements)));

    /// <inheritdoc/>
    public long WeightBlockOverflow { get; private set; }

    /// <inheritdoc/>
    public long AvailableBytes => _context.MemoryInfo().Free;

    /// <inheritdoc/>
    public string Description => _context.ToString();

    /// <summary>The output of <paramref name="op"/>: the next planned tensor while an arena runs, else a new scoped allocation.</summary>
    internal Tensor New(string op, DType dtype, TensorShape shape) => Outputs.TryTake(op, dtype, shape) ?? Unplanned(dtype, shape);

    /// <summary>
    /// A new allocation, never from an arena (staging for copies to the host): owned by the current scope, or, while a
    /// model's weights are being uploaded, by their block (whatever a model computes while it loads is its weights, and
    /// must live as long as they do, not end with the scope the model happens to load in).
    /// </summary>
    internal Tensor Unplanned(DType dtype, TensorShape shape)
    {
        var allocation = DeviceMemory.Allocate(_context, Math.Max(shape.ElementCount * dtype.SizeOf(), 1));
        if (_weights is not null)
        {
            _weights.Adopt(allocation);
        }
        else
        {
            _scopes.Peek().Add(allocation);
        }

        return allocation.View(dtype, shape);
    }

    /// <summary>Where an upload of this dtype and shape goes: the open weight block while it has room, else the current scope.</summary>
    internal Tensor UploadTarget(DType dtype, TensorShape shape)
    {
        var inBlock = _weights?.TryTake(dtype, shape);
        if (inBlock is not null)
        {
            return inBlock;
        }

        if (_weights is null)
        {
            return Unplanned(dtype, shape);
        }

        // An upload beyond the block's size lives as long as the block (Unplanned hands it to the block).
        WeightBlockOverflow += shape.ElementCount * dtype.SizeOf();
        return Unplanned(dtype, shape);
    }

    /// <inheritdoc/>
    public IMemoryScope BeginScope()
    {
        var scope = new Scope(this);
        _scopes.Push(scope);
        return scope;
    }

    /// <inheritdoc/>
    /// <remarks>The block is sized for the backend's activation dtype, which uploads convert to by default.</remarks>
    public IDisposable UploadWeightsInto(IEnumerable<TensorShape> shapes)
    {
        ArgumentNullException.ThrowIfNull(shapes);
        if (_weights is not null)
        {
            throw new InvalidOperationException("Weights are already being uploaded into a block.");
        }

        var bytes = shapes.Sum(shape => BlockBytes(_weightDType, shape));
        var allocation = DeviceMemory.Allocate(_context, Math.Max(bytes, WeightAlignment));
        _root.Add(allocation);
        _weights = new WeightBlock(allocation, _root.Add);
        return new WeightUpload(this);
    }

    /// <inheritdoc/>
    /// <remarks>The block is not the root scope's: it is freed when the returned block is disposed.</remarks>
    public IWeightBlock UploadReleasableWeightsInto(IEnumerable<TensorShape> shapes)
    {
        ArgumentNullException.ThrowIfNull(shapes);
        if (_weights is not null)
        {
            throw new InvalidOperationException("Weights are already being uploaded into a block.");
        }

        var bytes = shapes.Sum(shape => BlockBytes(_weightDType, shape));
        var allocation = DeviceMemory.Allocate(_context, Math.Max(bytes, WeightAlignment));
        var overflow = new List<DeviceAllocation>();
        var block = new WeightBlock(allocation, overflow.Add);
        _weights = block;
        return new ReleasableBlock(this, block, allocation, overflow);
    }

    /// <inheritdoc/>
    public IPlannedArena TakeArena(ArenaPlan plan, long reserve, string name, IPlannedArena? over = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(name);
        var arena = over switch
        {
            null => DeviceArena.Create(plan, new CudaDeviceAllocator(_context), reserve),
            Arena owner => DeviceArena.Over(owner.Device, plan),
            _ => throw new ArgumentException("Only an arena of this backend's memory can be shared.", nameof(over)),
        };
        return new Arena(this, arena, name);
    }

    /// <inheritdoc/>
    public IForwardGraph Capture(Func<Tensor> forward)
    {
        ArgumentNullException.ThrowIfNull(forward);
        _stream.Synchronize(); // a warm-up run has finished: its kernels are loaded and its GEMM plans exist
        Tensor? output = null;
        var graph = CudaGraph.Capture(_stream, _ => output = forward());
        return new Graph(graph, output!, _stream);
    }

    /// <inheritdoc/>
    public IPendingHostCopy CopyToHostLater(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        return new PendingDownload(_downloads.Start(x, _stream));
    }

    /// <inheritdoc/>
    public void Synchronize() => _stream.Synchronize();

    /// <summary>The bytes one tensor takes in a block: its size rounded up to <see cref="WeightAlignment"/>.</summary>
    private static long BlockBytes(DType dtype, TensorShape shape) =>
        (Math.Max(shape.ElementCount * dtype.SizeOf(), 1) + WeightAlignment - 1) / WeightAlignment * WeightAlignment;

    private Scope Enclosing(Scope scope)
    {
        var found = false;
        foreach (var s in _scopes)
        {
            if (found)
            {
                return s;
            }

            found = ReferenceEquals(s, scope);
        }

        return _root;
    }

    /// <summary>Frees every scope, the weights and the workspace (the stream is waited for first).</summary>
    public void Dispose()
    {
        while (_scopes.Count > 1)
        {
            _scopes.Peek().Dispose();
        }

        _root.Dispose();
        _downloads.Dispose();
        _workspace.Dispose();
    }

    /// <summary>Device memory freed together: the weights' root scope, or one piece of work.</summary>
    private sealed class Scope(CudaMemory owner) : IMemoryScope
    {
        private readonly List<DeviceAllocation> _allocations = [];

        public void Add(DeviceAllocation allocation) => _allocations.Add(allocation);

        public Tensor Keep(Tensor tensor)
        {
            ArgumentNullException.ThrowIfNull(tensor);
            var index = _allocations.FindIndex(a => ReferenceEquals(a.Storage, tensor.Storage));
            if (index < 0)
            {
                throw new ArgumentException("Only a tensor allocated in this scope can be kept.", nameof(tensor));
            }

            var allocation = _allocations[index];
            _allocations.RemoveAt(index);
            owner.Enclosing(this).Add(allocation);
            return tensor;
        }

        public void Dispose()
        {
            if (!ReferenceEquals(owner._root, this))
            {
                if (owner._scopes.Count == 0 || !ReferenceEquals(owner._scopes.Peek(), this))
                {
                    throw new InvalidOperationException("CUDA scopes must end in the reverse order they began.");
                }

                owner._scopes.Pop();
            }

            owner._stream.Synchronize();
            foreach (var allocation in _allocations)
            {
                allocation.Dispose();
            }

            _allocations.Clear();
        }
    }

    /// <summary>One block of weights, handing out aligned views; <paramref name="adopt"/> takes uploads that outgrow it, to be freed with it.</summary>
    private sealed class WeightBlock(DeviceAllocation allocation, Action<DeviceAllocation> adopt)
    {
        private long _used;

        public void Adopt(DeviceAllocation extra) => adopt(extra);

        public Tensor? TryTake(DType dtype, TensorShape shape)
        {
            var bytes = BlockBytes(dtype, shape);
            if (_used + bytes > allocation.ByteLength)
            {
                return null;
            }

            var tensor = allocation.View(dtype, shape, _used);
            _used += bytes;
            return tensor;
        }
    }

    private sealed class ReleasableBlock(CudaMemory owner, WeightBlock block, DeviceAllocation allocation, List<DeviceAllocation> overflow) : IWeightBlock
    {
        private bool _freed;

        public void EndUpload()
        {
            if (ReferenceEquals(owner._weights, block))
            {
                owner._weights = null;
            }
        }

        public void Dispose()
        {
            EndUpload();
            if (!_freed)
            {
                _freed = true;
                owner._stream.Synchronize();
                allocation.Dispose();
                foreach (var extra in overflow)
                {
                    extra.Dispose();
                }
            }
        }
    }

    private sealed class WeightUpload(CudaMemory owner) : IDisposable
    {
        public void Dispose() => owner._weights = null;
    }

    /// <summary>A plan's <see cref="DeviceArena"/>, handing out its buffers in plan order while a forward runs.</summary>
    private sealed class Arena : IPlannedArena
    {
        private readonly CudaMemory _owner;
        private readonly DeviceArena _arena;
        private readonly PlannedAllocator _allocator;

        public Arena(CudaMemory owner, DeviceArena arena, string name)
        {
            _owner = owner;
            _arena = arena;
            _allocator = new PlannedAllocator(arena.Plan, arena.AddressOf, (address, bytes) => new DeviceStorage(address, bytes, () => true, name));
        }

        public ArenaPlan Plan => _arena.Plan;

        public DeviceArena Device => _arena;

        public T Run<T>(Func<T> forward) => _owner.Outputs.Run(_allocator, forward);

        public void Dispose()
        {
            _owner._stream.Synchronize();
            _arena.Dispose();
        }
    }

    private sealed class Graph(CudaGraph graph, Tensor output, CudaStream stream) : IForwardGraph
    {
        public Tensor Replay()
        {
            graph.Launch(stream);
            return output;
        }

        public void Dispose()
        {
            stream.Synchronize();
            graph.Dispose();
        }
    }

    private sealed class PendingDownload(AsyncDownloads.Pending pending) : IPendingHostCopy
    {
        public Tensor Wait() => pending.Wait();
    }
}
