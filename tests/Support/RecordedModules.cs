using CudaI2V.Kernels;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Support;

/// <summary>
/// A file of diffusers' recorded module inputs and outputs (<c>{module}::in.0</c>, <c>{module}::kw.temb</c>,
/// <c>{module}::out</c>; F32, PyTorch layout, images NCHW) read for one backend. Inputs go to the backend through
/// <see cref="IOps.FromHost"/> (images to channels-last); outputs come back through <see cref="IOps.ToHost"/> in the
/// recording's layout, beside the recorded tensor, which never passes through the backend (so an fp16 backend is
/// compared with diffusers' fp32 values, not with their fp16 rounding).
/// </summary>
public sealed class RecordedModules(IOps ops, SafetensorsFile file)
{
    /// <summary>A catalogue's module names as theory rows labelled with the whole name (xunit shortens long arguments).</summary>
    public static TheoryData<string> TheoryRows(IReadOnlyList<(string Module, ModuleScale Scale)> catalogue) =>
        [.. catalogue.Select(c => new TheoryDataRow<string>(c.Module) { Label = c.Module })];

    /// <summary>The scale a catalogue gives <paramref name="module"/>.</summary>
    public static ModuleScale ScaleIn(IReadOnlyList<(string Module, ModuleScale Scale)> catalogue, string module) =>
        catalogue.Single(c => c.Module == module).Scale;

    /// <summary>The backend the inputs go to.</summary>
    public IOps Ops { get; } = ops;

    /// <summary>A recorded tensor as stored (host).</summary>
    public Tensor Raw(string name) => file.GetTensor(name);

    /// <summary>A recorded tensor on the backend, in its activation dtype.</summary>
    public Tensor In(string name) => Ops.FromHost(Raw(name));

    /// <summary>A recorded NCHW image batch on the backend as (N, H, W, C).</summary>
    public Tensor Image(string name) => Ops.NchwToNhwc(In(name));

    /// <summary>A recorded scalar frame count (<c>::kw.num_frames</c>).</summary>
    public int Frames(string name) => (int)Raw(name).ToFloat32Array()[0];

    /// <summary><paramref name="actual"/> (a backend tensor in the recording's layout) beside the recorded <paramref name="name"/>.</summary>
    public ModuleOutput Output(string name, Tensor actual) => new(name, Raw(name), Ops.ToHost(actual));

    /// <summary>A backend image batch (N, H, W, C) beside the recorded NCHW <paramref name="name"/>.</summary>
    public ModuleOutput ImageOutput(string name, Tensor actualNhwc) => Output(name, Ops.NhwcToNchw(actualNhwc));
}

/// <summary>One output of a module: the recorded tensor and ours, both host tensors of the same layout.</summary>
/// <param name="Name">The recorded name (<c>down_blocks.0::out.1.2</c>).</param>
/// <param name="Expected">diffusers' value.</param>
/// <param name="Actual">Ours, F32.</param>
public sealed record ModuleOutput(string Name, Tensor Expected, Tensor Actual)
{
    /// <summary>Asserts the shapes agree, then compares the values.</summary>
    public TensorComparison Compare()
    {
        Assert.True(Expected.Shape == Actual.Shape, $"{Name}: shape {Actual.Shape}, expected {Expected.Shape}.");
        return TensorComparison.Compare(Actual, Expected);
    }
}

/// <summary>How much computation a recorded module is, which sets how far a reduced-precision backend may drift.</summary>
public enum ModuleScale
{
    /// <summary>One op that rounds (a convolution, a linear, a norm, the timestep features), possibly with exact data movement around it.</summary>
    Op,

    /// <summary>Several ops: a resnet, an attention, a transformer, a down or up block.</summary>
    Block,

    /// <summary>A whole model call.</summary>
    Model,
}
