using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using CudaI2V.Kernels;
using CudaI2V.Kernels.Cuda.Backend;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Layers.UNet;
using CudaI2V.Layers.Vae;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Cli.Commands;

/// <summary>
/// <c>cudai2v bench</c> (or <c>bench unet</c>): the release-sized UNet and VAE on the GPU with weights made by
/// <see cref="FixtureWeights"/> from the release layout (speed does not depend on the values, so nothing is
/// downloaded). It plans the UNet step's activations, replays the step on that arena, and reports ms per step
/// (median), time per op family, VAE decode time for 16 frames, planned and measured memory, and TFLOP/s against
/// the counted FLOPs.
/// </summary>
internal static class UNetBench
{
    /// <summary>What to measure.</summary>
    public sealed record Settings(int Height, int Width, int Frames, int Steps, string? Json, VaePrecision VaePrecision, DType DType, string Attention);

    /// <summary>Reads and checks the options (before any GPU work, so a usage error exits 2 everywhere).</summary>
    public static Settings Read(ParsedArgs args)
    {
        var height = args.GetInt32("height", 512, 8, 4096);
        var width = args.GetInt32("width", 512, 8, 4096);
        if (height % 8 != 0 || width % 8 != 0)
        {
            throw new UsageException($"--height and --width must be multiples of 8, got {height}x{width}.");
        }

        return new Settings(height, width, args.GetInt32("frames", 16, 1, 64), args.GetInt32("steps", 5, 1, 1000), args.Get("json"), args.GetVaePrecision(), args.GetGpuDType(), args.GetAttention());
    }

    public static int Run(Settings settings, CliContext context, CudaOps ops)
    {
        var (height, width, frames, steps, json, vaePrecision, _, attention) = settings;
        var output = context.Out;
        var gpu = ops.Context;
        var folder = Path.Combine(Path.GetTempPath(), $"cudai2v-bench-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            var unetConfig = UNetConfig.Load(Resource(folder, "unet-config.json"));
            var unetManifest = WeightManifest.Load(Resource(folder, "unet-manifest.json"));
            var vaeConfig = VaeConfig.Load(Resource(folder, "vae-config.json"));
            var vaeManifest = WeightManifest.Load(Resource(folder, "vae-manifest.json"));
            int h = height / 8, w = width / 8, batch = 2, c = unetConfig.InChannels, cross = unetConfig.CrossAttentionDim;

            var load = Stopwatch.StartNew();
            using var unetWeights = WeightSet.Generated("unet", unetManifest.Entries, e => FixtureWeights.ParameterTensor("unet", e.Key, e.Shape, DType.F16));
            I2VGenXLUNet unet;
            using (ops.Memory.UploadWeightsInto(unetManifest.Entries.Select(e => e.Shape)))
            {
                unet = I2VGenXLUNet.Load(ops, unetWeights, unetConfig);
            }

            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"UNet weights made and uploaded in {load.Elapsed.TotalSeconds:F1} s"));

            var sample = ops.FromHost(FixtureWeights.Input("bench.sample", new TensorShape(batch * frames, h, w, c)));
            var conditioning = unet.Condition(
                ops.FromHost(FixtureWeights.Input("bench.image_latents", new TensorShape(batch * frames, h, w, c))),
                ops.FromHost(FixtureWeights.Input("bench.image_embeddings", new TensorShape(batch, 1, cross))),
                ops.FromHost(FixtureWeights.Input("bench.text", new TensorShape(batch, 77, cross))),
                Enumerable.Repeat(16f, batch).ToArray(),
                frames);

            // Plan one step's activations by running it through PlanningOps (shapes only), then one arena; the step
            // is timed by direct launches and again replayed as a CUDA graph, on the same arena.
            var stepPlan = PlannedUNetStep.PlanStep(ops.ActivationDType, unetConfig, unetManifest.Entries, sample.Shape, new TensorShape(batch, 1, cross), new TensorShape(batch, 77, cross), frames);
            using var step = PlannedUNetStep.Create(ops, stepPlan, graphs: true, reserve: 512L << 20);
            var plan = step.Plan;
            output.WriteLine($"planned step activations: {plan.Describe(3)}");
            var embedding = unet.StepEmbedding(981, conditioning);

            double Time(Func<Tensor> forward)
            {
                using var start = new CudaEvent(gpu);
                using var end = new CudaEvent(gpu);
                start.Record(ops.Stream);
                forward();
                end.Record(ops.Stream);
                end.Synchronize();
                return CudaEvent.ElapsedMilliseconds(start, end);
            }

            double[] Repeat(Func<Tensor> forward) => [.. Enumerable.Range(0, steps).Select(_ => Time(forward)).Order()];

            Tensor Direct() => step.Direct(unet, sample, embedding, conditioning);
            Tensor Graphed() => step.Forward(unet, sample, embedding, conditioning);

            Time(Direct);
            var times = Repeat(Direct);
            Time(Graphed); // the graph's first call runs directly, its second captures
            Time(Graphed);
            var graphTimes = Repeat(Graphed);

            // The same step with each other attention implementation, on the same weights and arena (direct launches),
            // and how far its output is from the chosen one's (the weights are random, so this checks agreement at
            // release sizes, not quality).
            var chosen = ops.MatrixOps;
            var chosenOutput = ops.ToHost(Direct());
            var others = new Dictionary<string, double[]>();
            foreach (var name in MatrixOpSet.AttentionNames.Where(n => n != attention))
            {
                ops.MatrixOps = MatrixOpSet.ForAttention(name);
                var agreement = TensorComparison.Compare(ops.ToHost(Direct()), chosenOutput);
                output.WriteLine($"step output with {name} attention against {attention}: {agreement}");
                others[name] = Repeat(Direct);
            }

            ops.MatrixOps = chosen;
            var median = times[times.Length / 2];
            var graphMedian = graphTimes[graphTimes.Length / 2];
            var tflops = stepPlan.Flops / (median / 1000.0) / 1e12;
            var memory = gpu.MemoryInfo();

            using (var profiler = new EventProfiler(gpu))
            {
                ops.Profiler = profiler;
                Direct();
                ops.Profiler = null;
                var entries = profiler.Collect();
                var total = entries.Sum(e => e.TotalMilliseconds);
                output.WriteLine("time per op family (one profiled step; events around each op add a little):");
                foreach (var category in OpCategories.All)
                {
                    var ms = entries.Where(e => e.Name == category).Sum(e => e.TotalMilliseconds);
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {category,-14} {ms,9:F1} ms  {100 * ms / Math.Max(total, 1e-9),5:F1}%  {stepPlan.FlopsByCategory.GetValueOrDefault(category) / 1e12,6:F2} TFLOP"));
                }
            }

            // The VAE decoder on 16 frames of latents, one frame at a time on its planned arena, as the engine decodes
            // (host latents in, host images out, in the precision generate would use).
            using var vaeWeights = WeightSet.Generated("vae", vaeManifest.Entries, e => FixtureWeights.ParameterTensor("vae", e.Key, e.Shape, DType.F16));
            var vaeOps = VideoEngineLoader.CreateVaeBackend(ops, vaePrecision, vaeConfig);
            using var ownedVaeOps = ReferenceEquals(vaeOps, ops) ? null : vaeOps as IDisposable;
            AutoencoderKL vae;
            using (vaeOps.Memory.UploadWeightsInto(vaeManifest.Entries.Select(e => e.Shape)))
            {
                vae = AutoencoderKL.Load(vaeOps, vaeWeights, vaeConfig);
            }

            var latents = FixtureWeights.Input("bench.latents", new TensorShape(16, h, w, vaeConfig.LatentChannels));
            double decode;
            using (var decoder = PlannedVaeDecode.Create(vaeOps, vaeConfig, vaeManifest.Entries, chunk: 1, h, w))
            {
                output.WriteLine($"planned VAE decode activations (one frame, {vaeOps.ActivationDType}): {decoder.Plan.Describe(3)}");
                decoder.Decode(vae, latents.Slice(0, 0, 1));
                var clock = Stopwatch.StartNew();
                for (var f = 0; f < 16; f++)
                {
                    decoder.Decode(vae, latents.Slice(0, f, 1));
                }

                decode = clock.Elapsed.TotalMilliseconds;
            }

            var commit = typeof(UNetBench).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "Commit")?.Value ?? "unknown";
            output.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"{gpu} driver {gpu.DriverVersion}, commit {commit}: UNet {height}x{width}x{frames}, CFG batch {batch}, {ops.ActivationDType}: "
                + $"{median:F1} ms per step (median of {steps}; min {times[0]:F1}, max {times[^1]:F1}), {tflops:F0} TFLOP/s on {stepPlan.Flops / 1e12:F2} TFLOP counted; "
                + $"{graphMedian:F1} ms per step replayed as a CUDA graph (min {graphTimes[0]:F1}, max {graphTimes[^1]:F1}); "
                + $"attention {attention}{string.Concat(others.Select(o => $" (with {o.Key} attention: {o.Value[o.Value.Length / 2]:F1} ms per step, min {o.Value[0]:F1}, max {o.Value[^1]:F1})"))}; "
                + $"VAE decode ({vaeOps.ActivationDType}) {decode:F0} ms per 16 frames; planned activations {ArenaPlan.FormatBytes(plan.Peak)}, weights {ArenaPlan.FormatBytes(stepPlan.WeightBytes)}, "
                + $"device memory in use {ArenaPlan.FormatBytes(memory.Total - memory.Free)} of {ArenaPlan.FormatBytes(memory.Total)}"));

            if (json is not null)
            {
                WriteJson(json, gpu, commit, height, width, frames, batch, ops.ActivationDType, attention, steps, times, graphTimes, others, tflops, stepPlan, decode, vaeOps.ActivationDType, memory);
            }

            return ExitCodes.Success;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static string Resource(string folder, string name)
    {
        var path = Path.Combine(folder, name);
        using var source = typeof(UNetBench).Assembly.GetManifestResourceStream("bench/" + name)
            ?? throw new InvalidOperationException($"The bench resource '{name}' is missing from this build of cudai2v.");
        using var file = File.Create(path);
        source.CopyTo(file);
        return path;
    }

    private static void WriteJson(
        string path, CudaContext gpu, string commit, int height, int width, int frames, int batch, DType dtype, string attention, int steps,
        double[] times, double[] graphTimes, Dictionary<string, double[]> others, double tflops, UNetStepPlan step, double decode, DType vaeDType, DeviceMemoryInfo memory)
    {
        var temporary = path + ".partial";
        using (var stream = File.Create(temporary))
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("card", gpu.Device.Name);
            json.WriteNumber("compute_capability", gpu.Device.Architecture);
            json.WriteNumber("driver", gpu.DriverVersion);
            json.WriteString("commit", commit);
            json.WriteStartObject("settings");
            json.WriteNumber("height", height);
            json.WriteNumber("width", width);
            json.WriteNumber("frames", frames);
            json.WriteNumber("batch", batch);
            json.WriteString("dtype", dtype.SafetensorsName());
            json.WriteString("attention", attention);
            json.WriteNumber("timed_steps", steps);
            json.WriteEndObject();
            json.WriteNumber("unet_ms_per_step_median", times[times.Length / 2]);
            WriteArray(json, "unet_ms_per_step", times);
            json.WriteNumber("unet_graph_ms_per_step_median", graphTimes[graphTimes.Length / 2]);
            WriteArray(json, "unet_graph_ms_per_step", graphTimes);
            json.WriteStartObject("unet_ms_per_step_with_other_attention");
            foreach (var (name, other) in others)
            {
                json.WriteNumber(name, other[other.Length / 2]);
            }

            json.WriteEndObject();
            json.WriteNumber("counted_tflop", step.Flops / 1e12);
            json.WriteNumber("tflops", tflops);
            json.WriteStartObject("counted_tflop_by_family");
            foreach (var (family, flops) in step.FlopsByCategory)
            {
                json.WriteNumber(family, flops / 1e12);
            }

            json.WriteEndObject();
            json.WriteNumber("vae_decode_ms_per_16_frames", decode);
            json.WriteString("vae_dtype", vaeDType.SafetensorsName());
            json.WriteNumber("planned_activation_bytes", step.Arena.Peak);
            json.WriteNumber("weight_bytes", step.WeightBytes);
            json.WriteNumber("device_memory_used_bytes", memory.Total - memory.Free);
            json.WriteNumber("device_memory_total_bytes", memory.Total);
            json.WriteEndObject();
        }

        File.Move(temporary, path, overwrite: true);
    }

    private static void WriteArray(Utf8JsonWriter json, string name, double[] values)
    {
        json.WriteStartArray(name);
        foreach (var v in values)
        {
            json.WriteNumberValue(v);
        }

        json.WriteEndArray();
    }
}
