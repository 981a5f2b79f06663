using System.Globalization;
using CudaI2V.Kernels.Cuda.Backend;
using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Native.Errors;
using CudaI2V.Runtime.Blas;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Cli.Commands;

/// <summary><c>cudai2v bench gemm</c>: the throughput of our GEMM wrappers, timed with CUDA events.</summary>
internal static class BenchCommand
{
    public static CommandSpec Spec { get; } = new(
        "bench",
        "Measure the GPU: 'bench' (or 'bench unet') times the release-sized UNet step and VAE decode; 'bench gemm' our GEMM wrapper; 'bench pipeline' whole requests per preset.",
        "pipeline [--model <folder>] [--presets release,fast,draft] [--steps N] [--device auto|cpu|cuda] [--json file]   |   [unet] [--height 512 --width 512 --frames 16] [--steps N] [--dtype fp16|bf16] [--attention gemm|flash] [--json file]   |   gemm [--m 4096 --n 4096 --k 4096] [--dtype fp16|bf16] [--repeats N] [--api cublas|cublaslt]",
        [
            new OptionSpec("m", "rows", "Rows of A and C.", Default: "4096"),
            new OptionSpec("n", "cols", "Columns of B and C.", Default: "4096"),
            new OptionSpec("k", "inner", "Columns of A, rows of B.", Default: "4096"),
            new OptionSpec("dtype", "fp16|bf16", "gemm: input and output type; unet: the storage type (accumulation is fp32 either way).", Default: "fp16"),
            new OptionSpec("repeats", "N", "Timed repeats; the median is reported.", Default: "20"),
            new OptionSpec("api", "cublas|cublaslt", "Which wrapper: CublasGemm (cublasGemmEx) or CublasLtGemm.", Default: "cublas"),
            new OptionSpec("height", "pixels", "unet: video height.", Default: "512"),
            new OptionSpec("width", "pixels", "unet: video width.", Default: "512"),
            new OptionSpec("frames", "n", "unet: frames (CFG batch 2).", Default: "16"),
            new OptionSpec("steps", "n", "unet: timed UNet steps; the median is reported. pipeline: at most this many steps run per preset (the figures per video then scale the median step).", Default: "5; pipeline: each preset's"),
            new OptionSpec("attention", "gemm|flash", "unet: the attention timed in full (the other is timed too, as ms per step).", Default: MatrixOpSet.DefaultAttention),
            new OptionSpec("vae-precision", "auto|model|fp32", "unet: the VAE decode's precision, as generate's (auto: fp32, the release VAE's force_upcast).", Default: "auto"),
            new OptionSpec("json", "file", "unet, pipeline: also write the figures and settings as JSON."),
            new OptionSpec("model", "folder", "pipeline: the pipeline folder.", Default: "the demo's tiny pipeline (random weights)", Letter: 'm'),
            new OptionSpec("presets", "list", "pipeline: the presets to compare, comma-separated.", Default: "release,fast,draft"),
            new OptionSpec("cache-intervals", "list", "pipeline: run each preset at each of these step-caching intervals (1,2,3), in place of the preset's own.", Default: "the preset's"),
            new OptionSpec("device", "auto|cpu|cuda", "pipeline: where it runs, as generate's.", Default: "auto"),
            new OptionSpec("cache-dir", "folder", "pipeline: where built models and caches are kept.", Default: "$CUDAI2V_CACHE_DIR or the user cache folder"),
        ],
        Run,
        "Row-major C[M, N] = A[M, K] B[K, N] on random inputs. After a warm-up of about 300 ms (an idle GPU runs at a low\n"
        + "clock), each repeat times 10 GEMMs between two CUDA events; the median repeat gives the figure. A few entries of C\n"
        + "are checked against a CPU dot product first. Without a GPU it exits 3.\n"
        + "unet: the release's UNet and VAE with weights generated from their layout (no download), fp16; the step's activations\n"
        + "are planned and replayed on one arena; reports ms per step, time per op family, VAE decode per 16 frames, memory and\n"
        + "TFLOP/s against the counted FLOPs (41.87 TFLOP per step at 512x512).\n"
        + "pipeline: one whole request per preset on one loaded engine (prompt, image, every step, decode, writing a GIF),\n"
        + "timing each stage, counting UNet calls and TFLOP per video, with the planned memory. Without --model it runs the\n"
        + "demo's tiny pipeline (on the CPU where there is no GPU); generated release-sized weights are not built for it yet.",
        ["benchmark"],
        RequiredPositionals: 0);

    private const int GemmsPerRepeat = 10;

    private static int Run(ParsedArgs args, CliContext context)
    {
        var what = args.Positionals.Count > 0 ? args.Positionals[0] : "unet";
        if (what is not ("gemm" or "unet" or "pipeline"))
        {
            throw new UsageException($"Unknown benchmark '{what}'. Benchmarks: unet (the default), gemm, pipeline.");
        }

        if (what == "pipeline")
        {
            return PipelineBench.Run(args, context);
        }

        if (what == "unet")
        {
            return Unet(args, context);
        }

        var m = args.GetInt32("m", 4096, 1, 1 << 16);
        var n = args.GetInt32("n", 4096, 1, 1 << 16);
        var k = args.GetInt32("k", 4096, 1, 1 << 16);
        var dtype = args.GetGpuDType();
        var repeats = args.GetInt32("repeats", 20, 1, 10_000);
        var api = args.Choice("api", "cublas", "cublas", "cublaslt");

        CudaContext gpu;
        try
        {
            gpu = CudaContext.Open();
        }
        catch (Exception e) when (IsNoGpu(e))
        {
            return NoGpu(context, e);
        }

        using (gpu)
        {
            try
            {
                return Gemm(gpu, m, n, k, dtype, repeats, api, context.Out);
            }
            catch (CudaException e)
            {
                context.Error.WriteLine($"cudai2v bench: {e.Message}");
                return ExitCodes.Failed;
            }
        }
    }

    private static int Unet(ParsedArgs args, CliContext context)
    {
        var settings = UNetBench.Read(args);
        CudaOps ops;
        try
        {
            ops = CudaOps.Open(0, new CudaOpsOptions(settings.DType, Cache: CacheRoot.FromEnvironment(), MatrixOps: MatrixOpSet.ForAttention(settings.Attention)));
        }
        catch (Exception e) when (IsNoGpu(e))
        {
            return NoGpu(context, e);
        }

        using (ops)
        {
            return UNetBench.Run(settings, context, ops);
        }
    }

    private static bool IsNoGpu(Exception e) => e is CudaLibraryNotFoundException or CudaException or ArgumentOutOfRangeException;

    /// <summary>Says why no GPU could be opened and where to look; exit code 3.</summary>
    private static int NoGpu(CliContext context, Exception e)
    {
        var why = e is CudaLibraryNotFoundException missing ? CudaLibraryNotFoundException.Headline(missing.Library) : e.Message;
        context.Error.WriteLine($"cudai2v bench: no usable CUDA GPU: {why}.");
        context.Error.WriteLine("Run 'cudai2v info' to see what was found and where the libraries were looked for.");
        return ExitCodes.BadInput;
    }

    private static int Gemm(CudaContext gpu, int m, int n, int k, DType dtype, int repeats, string api, TextWriter output)
    {
        var elementBytes = dtype.SizeOf();
        using var stream = new CudaStream(gpu);
        using var transfer = new TensorTransfer(gpu);
        using var memory = DeviceMemory.Allocate(gpu, Align(((long)m * k) + ((long)k * n) + ((long)m * n)) * elementBytes + 1024);
        var a = memory.View(dtype, new TensorShape(m, k));
        var b = memory.View(dtype, new TensorShape(k, n), Align((long)m * k) * elementBytes);
        var c = memory.View(dtype, new TensorShape(m, n), Align(((long)m * k) + ((long)k * n)) * elementBytes);
        var hostA = RandomTensor(dtype, m, k, seed: 1);
        var hostB = RandomTensor(dtype, k, n, seed: 2);
        transfer.Upload(hostA, a, stream);
        transfer.Upload(hostB, b, stream);

        using var cublas = api == "cublas" ? new CublasGemm(stream) : null;
        using var cublasLt = api == "cublaslt" ? new CublasLtGemm(stream) : null;
        void Multiply()
        {
            if (cublas is not null)
            {
                cublas.MatMul(a, b, c);
            }
            else
            {
                cublasLt!.MatMul(a, b, c, bias: null);
            }
        }

        Multiply();
        var worst = SpotCheck(hostA, hostB, transfer.ToHost(c, stream), m, n, k);
        if (worst > 1e-2)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"GEMM result is wrong: relative error {worst:G3} against a CPU dot product."));
            return ExitCodes.Failed;
        }

        var warmUp = System.Diagnostics.Stopwatch.StartNew();
        while (warmUp.ElapsedMilliseconds < 300)
        {
            Multiply();
            stream.Synchronize();
        }

        using var start = new CudaEvent(gpu);
        using var end = new CudaEvent(gpu);
        var times = new double[repeats];
        for (var r = 0; r < repeats; r++)
        {
            start.Record(stream);
            for (var i = 0; i < GemmsPerRepeat; i++)
            {
                Multiply();
            }

            end.Record(stream);
            end.Synchronize();
            times[r] = CudaEvent.ElapsedMilliseconds(start, end) / GemmsPerRepeat;
        }

        Array.Sort(times);
        var median = times[repeats / 2];
        var flops = 2.0 * m * n * k;
        var name = dtype == DType.F16 ? "fp16" : "bf16";
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"GEMM {m} x {n} x {k}: {name} in and out, fp32 accumulation ({(api == "cublas" ? "CublasGemm, cublasGemmEx" : "CublasLtGemm, cublasLtMatmul")})"));
        output.WriteLine($"device: {gpu}");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"checked: 8 entries of C within {worst:G2} relative error of a CPU dot product"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"timing: {repeats} repeats of {GemmsPerRepeat} GEMMs after a 300 ms warm-up; per GEMM min {times[0]:F4} ms, median {median:F4} ms, max {times[^1]:F4} ms"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"throughput: {flops / (median * 1e-3) / 1e12:F1} TFLOP/s (median)"));
        return ExitCodes.Success;
    }

    private static long Align(long elements) => (elements + 127) / 128 * 128;

    private static Tensor RandomTensor(DType dtype, int rows, int cols, ulong seed)
    {
        var values = new float[(long)rows * cols];
        var state = seed * 0x9E3779B97F4A7C15UL;
        for (long i = 0; i < values.LongLength; i++)
        {
            state = (state * 6364136223846793005UL) + 1442695040888963407UL;
            values[i] = ((int)(state >> 40) / (float)(1 << 24)) * 2f - 1f;
        }

        return Tensor.FromSpan<float>(values, new TensorShape(rows, cols)).To(dtype);
    }

    /// <summary>The worst relative error over eight entries of C against fp64 dot products of the same rounded inputs.</summary>
    private static double SpotCheck(Tensor a, Tensor b, Tensor c, int m, int n, int k)
    {
        var (av, bv, cv) = (a.ToFloat32Array(), b.ToFloat32Array(), c.ToFloat32Array());
        (int Row, int Col)[] picks = [(0, 0), (m - 1, n - 1), (0, n - 1), (m - 1, 0), (m / 2, n / 3), (m / 3, n / 2), (m / 5, n / 7), (m / 7, n / 5)];
        var worst = 0.0;
        foreach (var (row, col) in picks)
        {
            double sum = 0, magnitude = 0;
            for (var p = 0; p < k; p++)
            {
                var product = (double)av[((long)row * k) + p] * bv[((long)p * n) + col];
                sum += product;
                magnitude += Math.Abs(product);
            }

            var error = Math.Abs(cv[((long)row * n) + col] - sum) / Math.Max(magnitude, 1e-30);
            worst = double.IsNaN(error) ? double.PositiveInfinity : Math.Max(worst, error);
        }

        return worst;
    }
}
