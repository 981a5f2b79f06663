using System.Diagnostics;
using System.Globalization;
using CudaI2V.Layers.UNet;
using CudaI2V.Loader;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Cli.Commands.Verify;

/// <summary><c>verify unet</c>: one UNet call on diffusers' NCFHW inputs, compared with 'output'.</summary>
internal sealed class UNetVerifier : IComponentVerifier
{
    public string Name => "unet";

    public string Help =>
        "reads input.sample, input.timestep, input.fps, input.image_latents, input.image_embeddings,\n"
        + "input.encoder_hidden_states (diffusers' NCFHW layout) and compares 'output'.";

    public void Run(VerifyRun run)
    {
        var (model, io, ops) = (run.Model, run.Io, run.Ops);
        var folder = model.Get(ComponentKind.Unet);
        var config = model.UNet;
        foreach (var note in config.Notes)
        {
            run.Context.Error.WriteLine($"cudai2v verify: note: {note}");
        }

        var c = config.InChannels;
        var cross = config.CrossAttentionDim;
        var sample = io.Require("input.sample", 5, $"(B, {c}, F, H, W)");
        if (sample.Shape[1] != c)
        {
            throw new ModelFileException($"{io.Path}: 'input.sample' has shape {sample.Shape}; expected (B, {c}, F, H, W) for this UNet's in_channels {c}.", io.Path, "input.sample");
        }

        int batch = sample.Shape[0], frames = sample.Shape[2];
        var imageLatents = io.Require("input.image_latents", sample.Shape, "the sample's shape");
        var imageEmbeddings = io.Require("input.image_embeddings", new TensorShape(batch, 1, cross), "(B, 1, cross_attention_dim)");
        var text = io.Require("input.encoder_hidden_states", 3, $"({batch}, L, {cross})");
        if (text.Shape[0] != batch || text.Shape[2] != cross)
        {
            throw new ModelFileException($"{io.Path}: 'input.encoder_hidden_states' has shape {text.Shape}; expected ({batch}, L, {cross}).", io.Path, "input.encoder_hidden_states");
        }

        var fps = io.Require("input.fps", new TensorShape(batch), "one fps per video").ToFloat32Array();
        var timestep = io.Scalar("input.timestep");
        var expected = io.Require("output", new TensorShape(batch, config.OutChannels, frames, sample.Shape[3], sample.Shape[4]), "(B, out_channels, F, H, W)");

        var clock = Stopwatch.StartNew();
        using var weights = folder.OpenWeights(run.Variant, run.PreferredVariant);
        var unet = I2VGenXLUNet.Load(ops, weights, config);
        var loaded = clock.Elapsed;

        clock.Restart();
        var conditioning = unet.Condition(
            ops.NcfhwToNhwc(ops.FromHost(imageLatents)), ops.FromHost(imageEmbeddings), ops.FromHost(text), fps, frames);
        var output = unet.Forward(ops.NcfhwToNhwc(ops.FromHost(sample)), timestep, conditioning);
        var actual = ops.ToHost(ops.NhwcToNcfhw(output, frames));
        run.Context.Error.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"cudai2v verify: unet on {ops.Name}: load {loaded.TotalMilliseconds:F0} ms, forward {clock.Elapsed.TotalMilliseconds:F0} ms"));
        run.Report.Add("output", actual, expected);
    }
}
