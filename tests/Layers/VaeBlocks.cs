using CudaI2V.Kernels;
using CudaI2V.Layers.Modules;
using CudaI2V.Layers.Vae;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Loader.Safetensors;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Layers;

/// <summary>
/// The tiny VAE (weights regenerated from the manifest) on one backend, and how each module recorded in
/// vae-tiny/blocks.safetensors (one image, 24x32) is built and fed, so that the CPU and the GPU tests run exactly the
/// same modules on the same inputs. Every recorded module maps an NCHW <c>::in.0</c> to an NCHW <c>::out</c>.
/// </summary>
public sealed class VaeBlocks : IDisposable
{
    private readonly WeightSet _weights;
    private readonly WeightBinder _binder;
    private readonly SafetensorsFile _file;
    private readonly RecordedModules _r;

    /// <summary>Loads the tiny VAE onto <paramref name="ops"/> and opens the recording.</summary>
    public VaeBlocks(IOps ops)
    {
        var folder = Fixtures.ComponentModel("vae-tiny");
        _weights = WeightSet.Open("vae", [Path.Combine(folder, "diffusion_pytorch_model.safetensors")], WeightAliases.LegacyVaeAttention);
        _binder = new WeightBinder(ops, _weights);
        Vae = AutoencoderKL.Load(ops, _weights, VaeConfig.Load(Path.Combine(folder, "config.json")));
        _file = SafetensorsFile.Open(Fixtures.Path("vae-tiny", "blocks.safetensors"));
        _r = new RecordedModules(ops, _file);
    }

    /// <summary>Every recorded module (its diffusers name) and its scale.</summary>
    public static IReadOnlyList<(string Module, ModuleScale Scale)> Catalogue { get; } =
    [
        ("encoder.conv_in", ModuleScale.Op),
        ("encoder.down_blocks.0.resnets.0", ModuleScale.Block),
        ("encoder.down_blocks.0.downsamplers.0", ModuleScale.Op),
        ("encoder.down_blocks.0", ModuleScale.Block),
        ("encoder.mid_block.attentions.0", ModuleScale.Block),
        ("encoder.mid_block", ModuleScale.Block),
        ("encoder.conv_out", ModuleScale.Op),
        ("quant_conv", ModuleScale.Op),
        ("post_quant_conv", ModuleScale.Op),
        ("decoder.conv_in", ModuleScale.Op),
        ("decoder.mid_block", ModuleScale.Block),
        ("decoder.up_blocks.0.upsamplers.0", ModuleScale.Op),  // a nearest resize (exact) then one convolution
        ("decoder.up_blocks.0", ModuleScale.Block),
        ("decoder.conv_out", ModuleScale.Op),
    ];

    /// <summary>The catalogue's module names, as theory rows labelled with the whole name (xunit shortens long arguments).</summary>
    public static TheoryData<string> Modules() => RecordedModules.TheoryRows(Catalogue);

    /// <summary>The scale of <paramref name="module"/>.</summary>
    public static ModuleScale ScaleOf(string module) => RecordedModules.ScaleIn(Catalogue, module);

    /// <summary>The backend.</summary>
    public IOps Ops => _r.Ops;

    /// <summary>The recorded inputs and outputs.</summary>
    public RecordedModules Recording => _r;

    /// <summary>The whole tiny VAE on the backend.</summary>
    public AutoencoderKL Vae { get; }

    /// <summary>Runs <paramref name="module"/> on its recorded input: our output beside diffusers'.</summary>
    public ModuleOutput Run(string module)
    {
        var b = _binder;
        Func<Tensor, Tensor> forward = module switch
        {
            "encoder.conv_in" => x => new Conv2d(b, module, 3, 32, 3).Forward(x),
            "encoder.down_blocks.0.resnets.0" => x => new ResnetBlock2D(b, module, 32, 32, null, 8, 1e-6f).Forward(x),
            "encoder.down_blocks.0.downsamplers.0" => new Downsample2D(b, module, 32, Downsample2D.RightBottom).Forward,
            "encoder.down_blocks.0" => new DownEncoderBlock2D(b, module, 32, 32, 2, 8, addDownsample: true).Forward,
            "encoder.mid_block.attentions.0" => new VaeAttention(b, module, 64, 8, 64).Forward,
            "encoder.mid_block" or "decoder.mid_block" => new UNetMidBlock2D(b, module, 64, 8, addAttention: true).Forward,
            "encoder.conv_out" => x => new Conv2d(b, module, 64, 8, 3).Forward(x),
            "quant_conv" => x => new Conv2d(b, module, 8, 8, 1).Forward(x),
            "post_quant_conv" => x => new Conv2d(b, module, 4, 4, 1).Forward(x),
            "decoder.conv_in" => x => new Conv2d(b, module, 4, 64, 3).Forward(x),
            "decoder.up_blocks.0.upsamplers.0" => x => new Upsample2D(b, module, 64).Forward(x),
            "decoder.up_blocks.0" => new UpDecoderBlock2D(b, module, 64, 64, 3, 8, addUpsample: true).Forward,
            "decoder.conv_out" => x => new Conv2d(b, module, 32, 3, 3).Forward(x),
            _ => throw new ArgumentOutOfRangeException(nameof(module), module, "Not a recorded module of vae-tiny."),
        };

        return _r.ImageOutput($"{module}::out", forward(_r.Image($"{module}::in.0")));
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _file.Dispose();
        _weights.Dispose();
    }
}
