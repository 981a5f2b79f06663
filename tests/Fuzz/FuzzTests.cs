using System.Globalization;
using CudaI2V.Loader;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Fuzz;

/// <summary>
/// The fuzzer: seeded mutations of safetensors files, every config of a pipeline folder and image headers, run
/// in-process against the real loader. Every case must load or be refused with a documented exception
/// (<see cref="ModelFileException"/> for model files, <see cref="ImageInputException"/> for images); the counts are
/// printed. CI runs a fixed seed and count; <c>scripts/fuzz.sh SEED COUNT</c> runs any other (docs/robustness.md).
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    /// <summary>The seed CI runs.</summary>
    public const ulong DefaultSeed = 20261202;

    /// <summary>Cases CI runs (split 2:2:1 between weight files, configs and images): 5,000 took 48 s on 2 busy cores, so CI runs 3,000.</summary>
    public const int DefaultCount = 3000;

    [Fact]
    public void Every_hostile_file_loads_or_is_refused_with_a_documented_exception()
    {
        var seed = ulong.TryParse(Environment.GetEnvironmentVariable("CUDAI2V_FUZZ_SEED"), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : DefaultSeed;
        var count = int.TryParse(Environment.GetEnvironmentVariable("CUDAI2V_FUZZ_COUNT"), NumberStyles.None, CultureInfo.InvariantCulture, out var c) ? c : DefaultCount;
        var folder = Fixtures.TempFolder("fuzz");
        var weights = new SafetensorsFuzzer(Directory.CreateDirectory(Path.Combine(folder, "weights")).FullName);
        var configs = new ConfigFuzzer(Path.Combine(folder, "pipeline"));
        var images = new ImageFuzzer();
        var tally = new FuzzTally();
        var token = TestContext.Current.CancellationToken;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            token.ThrowIfCancellationRequested();
            var random = new FuzzRandom(seed, i);
            switch (i % 5)
            {
                case 0 or 1:
                    var (path, what) = weights.Make(random, i);
                    tally.Run("safetensors", i, what, () => SafetensorsFuzzer.Load(path), typeof(ModelFileException));
                    break;
                case 2 or 3:
                    var mutation = configs.Make(random);
                    tally.Run("configs", i, mutation, configs.Load, typeof(ModelFileException));
                    break;
                default:
                    var (bytes, description) = images.Make(random);
                    tally.Run("images", i, description, () => ImageFuzzer.Load(bytes), typeof(ImageInputException));
                    break;
            }
        }

        var report = tally.Report(seed) + string.Create(CultureInfo.InvariantCulture, $"  {clock.Elapsed.TotalSeconds:F1} s");
        output.WriteLine(report);
        Assert.True(tally.Unexpected.Count == 0, report);
    }
}
