using System.Diagnostics;
using System.Globalization;
using CudaI2V.Layers.Vae;
using CudaI2V.Loader;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Cli.Commands.Verify;

/// <summary>Loads the VAE of a verify run and times what runs on it.</summary>
internal static class VaeRun
{
    public static AutoencoderKL Load(VerifyRun run, out WeightSet weights)
    {
        var folder = run.Model.Get(ComponentKind.Vae);
        var config = run.Model.Vae;
        weights = folder.OpenWeights(run.Variant, run.PreferredVariant);
        return AutoencoderKL.Load(run.Ops, weights, config);
    }

    public static void Report(VerifyRun run, string what, Stopwatch clock) =>
        run.Context.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"cudai2v verify: {what} on {run.Ops.Name}: {clock.Elapsed.TotalMilliseconds:F0} ms"));
}

/// <summary><c>verify vae-encode</c>: the encoder's latent distribution for 'encode.input'.</summary>
internal sealed class VaeEncodeVerifier : IComponentVerifier
{
    public string Name => "vae-encode";

    public string Help => "reads encode.input (N, 3, H, W) in [-1, 1] and compares encode.mean and encode.logvar.";

    public void Run(VerifyRun run)
    {
        var config = run.Model.Vae;
        var (io, ops) = (run.Io, run.Ops);
        var input = io.Require("encode.input", 4, $"(N, {config.InChannels}, H, W)");
        int n = input.Shape[0], height = input.Shape[2], width = input.Shape[3], s = config.ScaleFactor;
        if (input.Shape[1] != config.InChannels || height % s != 0 || width % s != 0)
        {
            throw new ModelFileException(
                $"{io.Path}: 'encode.input' has shape {input.Shape}; expected (N, {config.InChannels}, H, W) with H and W multiples of {s}.", io.Path, "encode.input");
        }

        var latentShape = new TensorShape(n, config.LatentChannels, height / s, width / s);
        var expectedMean = io.Require("encode.mean", latentShape, "(N, latent, H/s, W/s)");
        var expectedLogVar = io.Require("encode.logvar", latentShape, "(N, latent, H/s, W/s)");

        var vae = VaeRun.Load(run, out var weights);
        using (weights)
        {
            var clock = Stopwatch.StartNew();
            var moments = ops.ToHost(vae.Encode(ops.NchwToNhwc(ops.FromHost(input))));
            VaeRun.Report(run, "vae encode", clock);
            var distribution = LatentDistribution.FromMoments(moments);
            run.Report.Add("encode.mean", ToNchw(distribution.Mean), expectedMean);
            run.Report.Add("encode.logvar", ToNchw(distribution.LogVar), expectedLogVar);
        }
    }

    private static Tensor ToNchw(Tensor nhwc) => nhwc.Permute(0, 3, 1, 2).Contiguous();
}

/// <summary><c>verify vae-decode</c>: the decoder's images for 'decode.input'.</summary>
internal sealed class VaeDecodeVerifier : IComponentVerifier
{
    public string Name => "vae-decode";

    public string Help => "reads decode.input (N, latent, h, w) (unscaled latents) and compares decode.output.";

    public void Run(VerifyRun run)
    {
        var config = run.Model.Vae;
        var (io, ops) = (run.Io, run.Ops);
        var input = io.Require("decode.input", 4, $"(N, {config.LatentChannels}, h, w)");
        if (input.Shape[1] != config.LatentChannels)
        {
            throw new ModelFileException($"{io.Path}: 'decode.input' has shape {input.Shape}; expected (N, {config.LatentChannels}, h, w).", io.Path, "decode.input");
        }

        int s = config.ScaleFactor;
        var expected = io.Require("decode.output", new TensorShape(input.Shape[0], config.OutChannels, input.Shape[2] * s, input.Shape[3] * s), "(N, out, h*s, w*s)");
        var vae = VaeRun.Load(run, out var weights);
        using (weights)
        {
            var clock = Stopwatch.StartNew();
            var images = vae.Decode(ops.NchwToNhwc(ops.FromHost(input)), chunk: 1);
            VaeRun.Report(run, "vae decode", clock);
            run.Report.Add("decode.output", ops.ToHost(ops.NhwcToNchw(images)), expected);
        }
    }
}
