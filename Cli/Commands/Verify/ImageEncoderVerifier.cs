using System.Diagnostics;
using System.Globalization;
using CudaI2V.Layers.Clip;
using CudaI2V.Loader;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Cli.Commands.Verify;

/// <summary>
/// <c>verify image-encoder</c>: the CLIP vision encoder on transformers' NCHW pixel_values, compared with
/// 'image_embeds' and 'last_hidden_state'.
/// </summary>
internal sealed class ImageEncoderVerifier : IComponentVerifier
{
    public string Name => "image-encoder";

    public string Help =>
        "reads pixel_values (B, 3, image_size, image_size) (transformers' NCHW layout, already normalised) and\n"
        + "compares 'image_embeds' (B, projection_dim) and 'last_hidden_state' (B, tokens, hidden_size).";

    public void Run(VerifyRun run)
    {
        var (model, io, ops) = (run.Model, run.Io, run.Ops);
        var folder = model.Get(ComponentKind.ImageEncoder);
        var config = model.ImageEncoder;
        foreach (var note in config.Notes)
        {
            run.Context.Error.WriteLine($"cudai2v verify: note: {note}");
        }

        var (channels, size) = (config.NumChannels, config.ImageSize);
        var expectedPixels = $"(B, {channels}, {size}, {size})";
        var pixels = io.Require("pixel_values", 4, expectedPixels);
        if (pixels.Shape[0] < 1 || pixels.Shape[1] != channels || pixels.Shape[2] != size || pixels.Shape[3] != size)
        {
            throw new ModelFileException(
                $"{io.Path}: 'pixel_values' has shape {pixels.Shape}; expected {expectedPixels} for this encoder's num_channels {channels} and image_size {size}.",
                io.Path,
                "pixel_values");
        }

        var batch = pixels.Shape[0];
        var expectedEmbeds = io.Require("image_embeds", new TensorShape(batch, config.ProjectionDim), "(B, projection_dim)");
        var expectedHidden = io.Require("last_hidden_state", new TensorShape(batch, config.NumPositions, config.HiddenSize), "(B, tokens, hidden_size)");

        var clock = Stopwatch.StartNew();
        using var weights = folder.OpenWeights(run.Variant, run.PreferredVariant);
        var encoder = ClipVisionModelWithProjection.Load(ops, weights, config);
        var loaded = clock.Elapsed;

        clock.Restart();
        var output = encoder.Forward(ops.NchwToNhwc(ops.FromHost(pixels)));
        var imageEmbeds = ops.ToHost(output.ImageEmbeds);
        var lastHidden = ops.ToHost(output.LastHiddenState);
        run.Context.Error.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"cudai2v verify: image-encoder on {ops.Name}: load {loaded.TotalMilliseconds:F0} ms, forward {clock.Elapsed.TotalMilliseconds:F0} ms"));
        run.Report.Add("image_embeds", imageEmbeds, expectedEmbeds);
        run.Report.Add("last_hidden_state", lastHidden, expectedHidden);
    }
}
