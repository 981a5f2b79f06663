using CudaI2V.Loader;
using CudaI2V.Loader.Onnx;
using CudaI2V.Pipeline.Engine;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Text;

/// <summary>How to open a <see cref="PromptEncoder"/>.</summary>
/// <param name="Cache">The cache root (built ONNX models; prompt embeddings when <paramref name="DiskCache"/>).</param>
/// <param name="Variant">The text encoder's weight variant, if one is required (fp32 is preferred).</param>
/// <param name="Provider">The ONNX Runtime provider choice.</param>
/// <param name="DiskCache">Also keep prompt embeddings on disk.</param>
/// <param name="Log">Receives progress and warning lines (the provider line, a build, a truncated prompt).</param>
public sealed record PromptEncoderOptions(
    CacheRoot Cache, WeightVariant? Variant = null, TextEncoderProvider Provider = TextEncoderProvider.Auto, bool DiskCache = false, Action<string>? Log = null);

/// <summary>
/// Prompt to embedding, as the I2VGen-XL pipeline does it (clip_skip 1): the CLIP tokenizer, then the text
/// encoder's ONNX model (built and cached on first use) through ONNX Runtime, output
/// <see cref="ClipTextOnnxModel.PromptEmbedsClipSkip1"/>. Embeddings are cached by model and prompt
/// (<see cref="PromptEmbeddingCache"/>).
/// </summary>
public sealed class PromptEncoder : IPromptEncoder, IDisposable
{
    private readonly Action<string>? _log;
    private int _encoderRuns;

    private PromptEncoder(ClipTokenizer tokenizer, TextEncoderSession session, PromptEmbeddingCache cache, Action<string>? log)
    {
        Tokenizer = tokenizer;
        Session = session;
        Cache = cache;
        _log = log;
    }

    /// <summary>The tokenizer.</summary>
    public ClipTokenizer Tokenizer { get; }

    /// <summary>The ONNX Runtime session.</summary>
    public TextEncoderSession Session { get; }

    /// <summary>The embedding cache.</summary>
    public PromptEmbeddingCache Cache { get; }

    /// <summary>How many prompts the text encoder has run for (cache hits excluded).</summary>
    public int EncoderRuns => _encoderRuns;

    /// <summary>Opens the tokenizer and the text encoder of <paramref name="model"/> (a pipeline folder).</summary>
    public static PromptEncoder Open(ModelDirectory model, PromptEncoderOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        var tokenizer = ClipTokenizer.Load(model);
        tokenizer.CheckFits(model.TextEncoder);
        var session = TextEncoderSession.OpenCached(
            model.Get(ComponentKind.TextEncoder), options.Variant, options.Cache, includeHiddenStates: false,
            new TextEncoderSessionOptions(options.Provider, options.Log));
        var positions = model.TextEncoder.MaxPositionEmbeddings;
        if (positions < tokenizer.MaxLength)
        {
            session.Dispose();
            throw new ModelFileException(
                $"The tokenizer pads prompts to {tokenizer.MaxLength} tokens but the text encoder has only {positions} positions.", model.Root);
        }

        var cache = new PromptEmbeddingCache(session.Entry!.Key, options.DiskCache ? options.Cache : null);
        return new PromptEncoder(tokenizer, session, cache, options.Log);
    }

    /// <summary>The embedding of <paramref name="prompt"/>: [1, max length, hidden size] float32. Logs a truncation.</summary>
    public Tensor Encode(string prompt)
    {
        var tokens = Tokenizer.Encode(prompt);
        if (tokens.Warning is { } warning)
        {
            _log?.Invoke(warning);
        }

        return Cache.GetOrAdd(tokens.Ids, () =>
        {
            Interlocked.Increment(ref _encoderRuns);
            var ids = Tensor.FromArray(tokens.Ids.Select(i => (long)i).ToArray(), 1, tokens.Ids.Count);
            return Session.Run(ids, [ClipTextOnnxModel.PromptEmbedsClipSkip1])[ClipTextOnnxModel.PromptEmbedsClipSkip1];
        });
    }

    /// <summary>
    /// The classifier-free guidance batch [2, max length, hidden size]: the negative prompt's embedding (the empty
    /// prompt when null), then the prompt's.
    /// </summary>
    public Tensor EncodeForGuidance(string prompt, string? negativePrompt)
    {
        var negative = Encode(negativePrompt ?? "");
        var positive = Encode(prompt);
        var shape = negative.Shape;
        var batch = Tensor.Zeros(DType.F32, new TensorShape(2, shape[1], shape[2]));
        negative.AsSpan<float>().CopyTo(batch.AsSpan<float>());
        positive.AsSpan<float>().CopyTo(batch.AsSpan<float>()[(int)negative.ElementCount..]);
        return batch;
    }

    /// <inheritdoc/>
    public void Dispose() => Session.Dispose();
}
