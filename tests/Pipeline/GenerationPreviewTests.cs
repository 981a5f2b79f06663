using CudaI2V.Loader;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Pipeline;

/// <summary>
/// <see cref="GenerationOptions.Preview"/>: the latent preview every N steps (the fixed linear map of the latents the
/// run holds after that step) and the frames handed over chunk by chunk as the VAE decodes them, on the tiny pipeline.
/// </summary>
public sealed class GenerationPreviewTests
{
    private readonly string _dir = Fixtures.TempFolder("preview");

    [Fact]
    public void Previews_come_every_n_steps_and_decoded_frames_chunk_by_chunk_without_changing_the_video()
    {
        using var engine = VideoEngineLoader.Load(ModelDirectory.Open(Fixtures.PipelineTiny), new EngineLoadOptions(new CacheRoot(Path.Combine(_dir, "cache")), Backend: EngineBackend.Cpu));
        var image = ImageLoader.Load(Fixtures.Path("pipeline-tiny", "input.png"));
        var token = TestContext.Current.CancellationToken;
        var options = new GenerationOptions { Prompt = "a cat", Frames = 3, Steps = 4, Height = 40, Width = 56, Seed = 11, Guidance = 1.0, DecodeChunk = 2 };
        var plain = engine.Generate(image, options, cancellation: token);

        var preview = new Recorder(2);
        var inputs = new Inputs();
        var result = engine.Generate(image, options with { Preview = preview }, observer: inputs, cancellation: token);

        // The preview changes nothing in the result.
        Assert.Equal(plain.Video.ToFloat32Array(), result.Video.ToFloat32Array());

        // After steps 2 and 4 of 4; each a 28x20 image per frame (the latents' size), the map of the latents then held:
        // after step 2 those are the UNet's input of step 2 (DDIM's input scale is 1; no guidance, so no doubled batch).
        Assert.Equal([(2, 4), (4, 4)], preview.Denoised.Select(d => (d.Step, d.Total)));
        Assert.All(preview.Denoised, d => Assert.All(d.Frames, f => Assert.Equal((28, 20), (f.Width, f.Height))));
        var expected = LatentPreview.ToImages(inputs.Step2!.Permute(0, 2, 3, 4, 1).Contiguous().Reshape(3, 20, 28, 4));
        Assert.Equal(expected.Select(f => f.Pixels), preview.Denoised[0].Frames.Select(f => f.Pixels));

        // Decoded in chunks of 2 frames: frames 0-1, then frame 2, the very bytes of the result.
        Assert.Equal([(0, 2), (2, 1)], preview.Decoded.Select(d => (d.First, d.Frames.Count)));
        var frames = preview.Decoded.SelectMany(d => d.Frames).ToList();
        Assert.Equal(result.Frames.Select(f => f.Pixels), frames.Select(f => f.Pixels));
    }

    [Fact]
    public void The_latent_map_is_the_documented_linear_map_and_the_grid_lays_frames_row_by_row()
    {
        // One latent pixel per frame: channel 0 = 1 gives (factor row 0 + 1) / 2 * 255; channel 3 = -1 gives (1 - row 3) / 2.
        var latents = Tensor.FromArray(new float[] { 1, 0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 0 }, 3, 1, 1, 4);
        var images = LatentPreview.ToImages(latents);
        Assert.Equal(new byte[] { 172, 157, 169 }, images[0].Pixels); // (0.3512 + 1) * 127.5 = 172.3, (0.2297 + 1) * 127.5 = 156.8, ...
        Assert.Equal(new byte[] { 155, 161, 219 }, images[1].Pixels); // (1 + 0.2120) * 127.5 = 154.53, ...
        Assert.Equal(new byte[] { 128, 128, 128 }, images[2].Pixels); // zero latents are mid grey (127.5 rounds to even: 128)
        Assert.All(LatentPreview.ToImages(latents, scale: 0f), f => Assert.All(f.Pixels, p => Assert.Equal(128, p))); // the scale applies first

        var grid = LatentPreview.Grid(images);
        Assert.Equal((2, 2), (grid.Width, grid.Height)); // ceil(sqrt(3)) = 2 columns, 2 rows
        Assert.Equal(images[0].Pixels, new[] { grid[0, 0, 0], grid[0, 0, 1], grid[0, 0, 2] });
        Assert.Equal(images[1].Pixels, new[] { grid[1, 0, 0], grid[1, 0, 1], grid[1, 0, 2] });
        Assert.Equal(images[2].Pixels, new[] { grid[0, 1, 0], grid[0, 1, 1], grid[0, 1, 2] });
        Assert.Equal(new byte[] { 0, 0, 0 }, new[] { grid[1, 1, 0], grid[1, 1, 1], grid[1, 1, 2] }); // the short row's gap
    }

    private sealed class Recorder(int every) : IGenerationPreview
    {
        public List<(int Step, int Total, IReadOnlyList<RgbImage> Frames)> Denoised { get; } = [];

        public List<(int First, IReadOnlyList<RgbImage> Frames)> Decoded { get; } = [];

        public int PreviewEvery => every;

        void IGenerationPreview.Denoised(int stepsDone, int totalSteps, IReadOnlyList<RgbImage> frames) => Denoised.Add((stepsDone, totalSteps, frames));

        public void FramesDecoded(int first, IReadOnlyList<RgbImage> frames) => Decoded.Add((first, frames));
    }

    private sealed class Inputs : IGenerationObserver
    {
        public Tensor? Step2 { get; private set; }

        public void Tensor(string name, Tensor value)
        {
        }

        public void UNetStep(int stepIndex, float timestep, Tensor input, Tensor output)
        {
            if (stepIndex == 2)
            {
                Step2 = input;
            }
        }
    }
}
