using CudaI2V.Loader;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Pipeline.Output;
using CudaI2V.Runtime.Caching;
using Microsoft.Extensions.Logging;

namespace MyApp;

public static class VideoMaker
{
    public static async Task<GenerationResult> MakeAsync(
        string modelFolder, string imagePath, string outPath, ILogger logger, CancellationToken cancellation,
        int frames = 16, int steps = 50, int height = 704, int width = 1280)
    {
        // Load once, generate many times. Auto (the default): the GPU when one works, else the CPU with a
        // warning on the logger saying why. The cache keeps compiled kernels and the built text encoder.
        var load = new EngineLoadOptions(CacheRoot.FromEnvironment(), Backend: EngineBackend.Auto, Logger: logger);
        using var engine = VideoEngineLoader.Load(ModelDirectory.Open(modelFolder), load);

        var options = new GenerationOptions
        {
            Prompt = "a cat surfing on the water",
            Seed = 42,
            Frames = frames,
            Steps = steps,
            Height = height,
            Width = width,
        };

        // The token stops the run: within an op on the CPU, between steps on the GPU (OperationCanceledException).
        var result = await engine.GenerateAsync(ImageLoader.Load(imagePath), options, new ProgressLines(), cancellation);
        new VideoWriter().Write(outPath, result.Frames, options.Fps, cancellation); // result.Video: the [0, 1] floats
        return result;
    }

    // Reports are made on the generating thread, in order; Progress<T> would post them to the thread pool.
    private sealed class ProgressLines : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value) =>
            Console.Error.WriteLine($"{value.Stage} {value.Position:F2}/{value.TotalSteps} after {value.Elapsed}");
    }
}
