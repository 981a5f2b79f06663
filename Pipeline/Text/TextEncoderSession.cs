using CudaI2V.Loader;
using CudaI2V.Loader.Onnx;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace CudaI2V.Pipeline.Text;

/// <summary>Which ONNX Runtime execution provider the text encoder may use.</summary>
public enum TextEncoderProvider
{
    /// <summary>CUDA when this build has ONNX Runtime's CUDA package and the provider loads; the CPU otherwise.</summary>
    Auto,

    /// <summary>The CPU only.</summary>
    Cpu,
}

/// <summary>How to open a <see cref="TextEncoderSession"/>.</summary>
/// <param name="Provider">Which execution provider may run it.</param>
/// <param name="Log">Receives one line saying which provider runs the model and why (and nothing else).</param>
/// <param name="IntraOpThreads">Threads for one operator on the CPU; 0 lets ONNX Runtime choose.</param>
public sealed record TextEncoderSessionOptions(TextEncoderProvider Provider = TextEncoderProvider.Auto, Action<string>? Log = null, int IntraOpThreads = 0);

/// <summary>
/// An ONNX Runtime session over a text-encoder model (<see cref="ClipTextOnnxModel"/>), created with
/// strict shape and type inference, so a graph ONNX Runtime's checks reject fails here. With the CPU package of
/// ONNX Runtime (the default build) it runs on the CPU; with the CUDA package (<c>-p:CudaI2VOnnxGpu=true</c>) it
/// tries the CUDA provider first and falls back to the CPU when that does not load. Any ONNX Runtime failure,
/// loading or running, is a <see cref="ModelFileException"/> that names the model file and repeats ONNX Runtime's
/// message.
/// </summary>
public sealed class TextEncoderSession : IDisposable
{
    /// <summary>ONNX Runtime's name of the CUDA provider.</summary>
    public const string CudaProviderName = "CUDAExecutionProvider";

    /// <summary>ONNX Runtime's name of the CPU provider.</summary>
    public const string CpuProviderName = "CPUExecutionProvider";

    private readonly InferenceSession _session;

    private TextEncoderSession(string modelPath, InferenceSession session, string provider, string reason, ClipTextOnnxEntry? entry)
    {
        ModelPath = modelPath;
        _session = session;
        Provider = provider;
        ProviderReason = reason;
        Entry = entry;
        OutputNames = session.OutputNames.ToList();
    }

    /// <summary>The model file.</summary>
    public string ModelPath { get; }

    /// <summary>The provider that runs the model: <see cref="CudaProviderName"/> or <see cref="CpuProviderName"/>.</summary>
    public string Provider { get; }

    /// <summary>Why that provider runs it.</summary>
    public string ProviderReason { get; }

    /// <summary>The model's outputs.</summary>
    public IReadOnlyList<string> OutputNames { get; }

    /// <summary>The cache entry the model came from (<see cref="OpenCached"/>); null for a model opened by path.</summary>
    public ClipTextOnnxEntry? Entry { get; }

    /// <summary>
    /// Builds (or finds) the ONNX model of <paramref name="textEncoder"/> under <paramref name="cache"/> and opens
    /// it. A cached entry ONNX Runtime cannot load (damaged on disk) is removed and built again, once.
    /// </summary>
    public static TextEncoderSession OpenCached(
        ComponentFolder textEncoder, WeightVariant? variant, CacheRoot cache, bool includeHiddenStates, TextEncoderSessionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(textEncoder);
        ArgumentNullException.ThrowIfNull(cache);
        var log = options?.Log;
        var entry = ClipTextOnnxCache.GetOrBuild(textEncoder, variant, cache, includeHiddenStates, log);
        try
        {
            return Open(entry.ModelPath, options, entry);
        }
        catch (ModelFileException e) when (!entry.Built && e.InnerException is OnnxRuntimeException)
        {
            log?.Invoke($"text encoder: ONNX Runtime could not load the cached model {entry.Folder} ({FirstLine(e.Message)}); rebuilding it");
            ClipTextOnnxCache.Remove(entry);
            entry = ClipTextOnnxCache.GetOrBuild(textEncoder, variant, cache, includeHiddenStates, log);
            return Open(entry.ModelPath, options, entry);
        }
    }

    /// <summary>Opens <paramref name="modelPath"/>; logs one line naming the provider and the reason.</summary>
    public static TextEncoderSession Open(string modelPath, TextEncoderSessionOptions? options = null) => Open(modelPath, options, null);

    private static TextEncoderSession Open(string modelPath, TextEncoderSessionOptions? options, ClipTextOnnxEntry? entry)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        options ??= new TextEncoderSessionOptions();
        if (!File.Exists(modelPath))
        {
            throw new ModelFileException($"ONNX model not found: {modelPath}.", modelPath);
        }

        string provider, reason;
        InferenceSession? session = null;
        string[] available;
        try
        {
            available = OrtEnv.Instance().GetAvailableProviders();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or TypeInitializationException or OnnxRuntimeException)
        {
            throw new ModelFileException($"ONNX Runtime's native library could not be loaded, so the text encoder {modelPath} cannot run: {e.Message}", modelPath, null, e);
        }

        if (options.Provider == TextEncoderProvider.Cpu)
        {
            reason = "the CPU was asked for";
        }
        else if (!available.Contains(CudaProviderName))
        {
            reason = "this build has ONNX Runtime's CPU package; build with -p:CudaI2VOnnxGpu=true for the CUDA provider";
        }
        else
        {
            try
            {
                session = Create(modelPath, options, cuda: true);
                reason = "the CUDA provider loaded";
            }
            catch (OnnxRuntimeException e)
            {
                reason = $"the CUDA provider did not load: {FirstLine(e.Message)}";
            }
        }

        provider = session is null ? CpuProviderName : CudaProviderName;
        try
        {
            session ??= Create(modelPath, options, cuda: false);
        }
        catch (OnnxRuntimeException e)
        {
            throw new ModelFileException($"ONNX Runtime could not load {modelPath}: {e.Message}", modelPath, null, e);
        }

        options.Log?.Invoke($"text encoder: ONNX Runtime {provider} ({reason})");
        return new TextEncoderSession(modelPath, session, provider, reason, entry);
    }

    private static InferenceSession Create(string modelPath, TextEncoderSessionOptions options, bool cuda)
    {
        using var so = new SessionOptions();

        // Fail on any type or shape the graph gets wrong instead of guessing; ONNX Runtime checks the graph on load.
        so.AddSessionConfigEntry("session.strict_shape_type_inference", "1");
        so.LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR;
        if (options.IntraOpThreads > 0)
        {
            so.IntraOpNumThreads = options.IntraOpThreads;
        }

        if (cuda)
        {
            so.AppendExecutionProvider_CUDA(0);
        }

        return new InferenceSession(modelPath, so);
    }

    /// <summary>
    /// Runs the model on <paramref name="inputIds"/> (int64 or int32 [batch, sequence]) and returns the float32
    /// outputs asked for (all of them when <paramref name="outputs"/> is null), each [batch, sequence, D].
    /// </summary>
    public IReadOnlyDictionary<string, Tensor> Run(Tensor inputIds, IReadOnlyList<string>? outputs = null)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        if (inputIds.Shape.Rank != 2 || inputIds.DType is not (DType.I64 or DType.I32))
        {
            throw new ArgumentException($"input_ids must be int64 or int32 [batch, sequence]; got {inputIds.DType} {inputIds.Shape}.", nameof(inputIds));
        }

        var ids = inputIds.DType == DType.I64
            ? inputIds.Contiguous().AsSpan<long>().ToArray()
            : inputIds.Contiguous().AsSpan<int>().ToArray().Select(i => (long)i).ToArray();
        var names = outputs ?? OutputNames;
        var unknown = names.Where(n => !OutputNames.Contains(n)).ToList();
        if (unknown.Count > 0)
        {
            throw new ArgumentException($"The model has no output {string.Join(", ", unknown)}; it has {string.Join(", ", OutputNames)}.", nameof(outputs));
        }

        try
        {
            using var input = OrtValue.CreateTensorValueFromMemory(ids, [inputIds.Shape[0], inputIds.Shape[1]]);
            using var runOptions = new RunOptions();
            using var results = _session.Run(runOptions, [ClipTextOnnxModel.InputIds], [input], names.ToArray());
            var map = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            for (var i = 0; i < names.Count; i++)
            {
                var value = results[i];
                var shape = value.GetTensorTypeAndShape().Shape.Select(d => checked((int)d)).ToArray();
                map[names[i]] = Tensor.FromSpan<float>(value.GetTensorDataAsSpan<float>(), new TensorShape(shape));
            }

            return map;
        }
        catch (OnnxRuntimeException e)
        {
            throw new ModelFileException($"ONNX Runtime failed running {ModelPath}: {e.Message}", ModelPath, null, e);
        }
    }

    private static string FirstLine(string message) => message.Split('\n')[0].Trim();

    /// <inheritdoc/>
    public void Dispose() => _session.Dispose();
}
