using CudaI2V.Kernels.Cuda;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda.Emulation;

/// <summary>
/// A host stand-in for the GPU that runs launcher plans and op steps as their kernels and cuBLAS calls specify: device
/// tensors live in <see cref="EmulatedMemory"/> (a step that reaches outside its tensors throws), plans are enqueued
/// on this device as on a stream (launches, memcpys and memsets in the plan's order), and each launch is executed by
/// the host mirror of its kernel (<see cref="ElementwiseEmulation"/>, <see cref="NormEmulation"/>,
/// <see cref="GemmEmulation"/>) from its entry name, grid and params struct. It checks what the plans ask for, not the
/// CUDA code itself: that is what the GPU run of the same cases is for.
/// </summary>
internal sealed class EmulatedDevice : IOpTestDevice, ILaunchTarget
{
    private readonly EmulatedMemory _memory = new();

    /// <summary>The op steps executed, in order.</summary>
    public List<OpStep> Executed { get; } = [];

    /// <summary>The kernel entries launched, in order.</summary>
    public List<string> Launched { get; } = [];

    public Tensor Empty(DType dtype, params int[] dims) => _memory.Allocate(dtype, new TensorShape(dims));

    public Tensor Upload(Tensor host)
    {
        var device = Empty(host.DType, [.. host.Shape.Dims]);
        host.Contiguous().AsBytes().CopyTo(_memory.Bytes(device.DeviceAddress(), device.ByteLength));
        return device;
    }

    public Tensor UploadAt(Tensor host, long byteOffset)
    {
        var buffer = Empty(DType.U8, (int)(host.ByteLength + byteOffset));
        var device = Tensor.View(buffer.Storage, byteOffset, host.DType, host.Shape);
        host.Contiguous().AsBytes().CopyTo(_memory.Bytes(device.DeviceAddress(), device.ByteLength));
        return device;
    }

    public Tensor Download(Tensor device)
    {
        var host = Tensor.Zeros(device.DType, device.Shape);
        _memory.Bytes(device.DeviceAddress(), device.ByteLength).CopyTo(host.AsBytes());
        return host;
    }

    public void Poison(Tensor device) => _memory.Bytes(device.DeviceAddress(), device.ByteLength).Fill(0xFF);

    public void Launch(IKernelPlan? plan) => plan?.EnqueueOn(this);

    public void Run(Action<CudaOpContext?> op, IEnumerable<OpStep> steps) => Execute(steps);

    /// <summary>Executes op steps in order: launches through their kernels' mirrors, GEMMs and copies on the host.</summary>
    public void Execute(IEnumerable<OpStep> steps)
    {
        foreach (var step in steps)
        {
            switch (step)
            {
                case LaunchStep<Im2colParams> s:
                    Mirror(s.Launch);
                    break;
                case LaunchStep<GemmEpilogueParams> s:
                    Mirror(s.Launch);
                    break;
                case LaunchStep<SoftmaxParams> s:
                    Mirror(s.Launch);
                    break;
                case GemmStep g:
                    GemmEmulation.Gemm(_memory, g);
                    break;
                case CopyStep c:
                    Assert.Equal(c.Source.ByteLength, c.Destination.ByteLength);
                    Memcpy(new DeviceMemcpy(c.Destination.DeviceAddress(), c.Source.DeviceAddress(), c.Source.ByteLength));
                    break;
                default:
                    throw new NotSupportedException($"The emulator cannot run {step}.");
            }

            Executed.Add(step);
        }
    }

    void ILaunchTarget.Launch<TParams>(KernelLaunch<TParams> launch) => Mirror(launch);

    public void Memcpy(DeviceMemcpy copy)
    {
        ArgumentNullException.ThrowIfNull(copy);
        Assert.True(copy.Bytes > 0, $"a memcpy of {copy.Bytes} bytes");
        _memory.Bytes(copy.Source, copy.Bytes).CopyTo(_memory.Bytes(copy.Destination, copy.Bytes));
    }

    public void Memset(DeviceMemset fill)
    {
        ArgumentNullException.ThrowIfNull(fill);
        Assert.True(fill.Bytes > 0, $"a memset of {fill.Bytes} bytes");
        _memory.Bytes(fill.Destination, fill.Bytes).Fill(fill.Value);
    }

    public void Dispose()
    {
    }

    /// <summary>Runs one launch through the mirror of its kernel, after checking that the entry is one its source file declares.</summary>
    private void Mirror<TParams>(KernelLaunch<TParams> launch)
        where TParams : unmanaged
    {
        Assert.Contains(launch.Entry, EntryPoints(launch.SourceFile));
        Assert.True(launch.Config.Grid.Count > 0 && launch.Config.Block.Count > 0, $"{launch.Entry}: an empty grid {launch.Config}");
        switch (launch.Params)
        {
            case ActivationsParams p: ElementwiseEmulation.Activations(_memory, launch.Entry, p); break;
            case AddParams p: ElementwiseEmulation.Add(_memory, launch.Entry, p); break;
            case CastParams p: ElementwiseEmulation.Cast(_memory, launch.Entry, p); break;
            case FillParams p: ElementwiseEmulation.Fill(_memory, launch.Entry, p); break;
            case NonFiniteParams p: ElementwiseEmulation.NonFinite(_memory, launch.Entry, p); break;
            case ResampleParams p: ElementwiseEmulation.Resample(_memory, launch.Entry, p); break;
            case DdimStepParams p: ElementwiseEmulation.DdimStep(_memory, launch.Entry, p); break;
            case CopyStridedParams p: ElementwiseEmulation.CopyStrided(_memory, launch.Entry, p); break;
            case GroupNormParams: NormEmulation.GroupNorm(_memory, (KernelLaunch<GroupNormParams>)(object)launch); break;
            case LayerNormParams: NormEmulation.LayerNorm(_memory, (KernelLaunch<LayerNormParams>)(object)launch); break;
            case Im2colParams p: GemmEmulation.Im2col(_memory, launch.Entry, p); break;
            case GemmEpilogueParams p: GemmEmulation.Epilogue(_memory, launch.Entry, p); break;
            case SoftmaxParams p: GemmEmulation.Softmax(_memory, launch.Entry, p); break;
            default: throw new NotSupportedException($"The emulator has no mirror of {launch.SourceFile} ({launch.Entry}).");
        }

        Launched.Add(launch.Entry);
    }

    private static IReadOnlyList<string> EntryPoints(string sourceFile) =>
        (IReadOnlyList<string>)typeof(CudaSources).Assembly.GetType($"CudaI2V.Kernels.Cuda.{Path.GetFileNameWithoutExtension(sourceFile)}Kernel")!
            .GetProperty("EntryPoints")!.GetValue(null)!;
}
