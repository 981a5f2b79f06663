using System.Globalization;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Loader.Onnx;

/// <summary>
/// The ONNX model of transformers' <c>CLIPTextModel</c> (the text transformer, no projection), built from the
/// component's <c>config.json</c> and its weights bound by their state-dict keys (<c>text_model.…</c>). Binding
/// (<see cref="Bind"/>) checks every key's shape and dtype and that every key of the file is used, and reads no
/// weight data, so it runs on shapes alone; <see cref="Write"/> reads the weights and writes the files.
/// <para>
/// Graph, in float32 (fp16 and bf16 weights are widened when written), N = batch x sequence:
/// <c>input_ids</c> int64 [batch, sequence] (sequence at most max_position_embeddings) -> token embedding
/// (Gather) + position embedding[0..sequence) = hidden_states.0 [batch, sequence, D] -> per layer, on [N, D]:
/// x += out_proj(softmax(q kᵀ / sqrt(head_dim) + causal mask) v) with q, k, v = Gemm(LayerNorm1(x)) split into
/// heads; x += fc2(act(fc1(LayerNorm2(x)))) with act the exact erf GELU or quick_gelu (x sigmoid(1.702 x)) ->
/// hidden_states.i. Outputs: <see cref="LastHiddenState"/> = final LayerNorm of the last layer's output, and
/// <see cref="PromptEmbedsClipSkip1"/> = final LayerNorm of the second-to-last hidden state (what the pipeline
/// uses, clip_skip 1), both [batch, sequence, D]; with <c>includeHiddenStates</c> also every
/// <c>hidden_states.i</c>, i = 0..layers, before the final LayerNorm.
/// </para>
/// </summary>
public sealed class ClipTextOnnxModel
{
    /// <summary>Changes whenever the graph this class writes changes; part of the cache key.</summary>
    public const int BuilderVersion = 1;

    /// <summary>The model file's name.</summary>
    public const string ModelFileName = "model.onnx";

    /// <summary>The external data file's name (beside the model file).</summary>
    public const string DataFileName = "model.onnx.data";

    /// <summary>The input: token ids, int64 [batch, sequence].</summary>
    public const string InputIds = "input_ids";

    /// <summary>Output: the final LayerNorm of the last layer's output.</summary>
    public const string LastHiddenState = "last_hidden_state";

    /// <summary>Output: the final LayerNorm of the second-to-last hidden state (the pipeline's prompt embedding).</summary>
    public const string PromptEmbedsClipSkip1 = "prompt_embeds_clip_skip1";

    private const string Prefix = "text_model.";

    private readonly OnnxGraphBuilder _graph;

    private ClipTextOnnxModel(ClipTextConfig config, OnnxGraphBuilder graph, bool includeHiddenStates, long parameters)
    {
        Config = config;
        _graph = graph;
        IncludesHiddenStates = includeHiddenStates;
        ParameterCount = parameters;
    }

    /// <summary>The config the graph was built from.</summary>
    public ClipTextConfig Config { get; }

    /// <summary>Whether every hidden state is an output too.</summary>
    public bool IncludesHiddenStates { get; }

    /// <summary>Output names, in graph order.</summary>
    public IReadOnlyList<string> OutputNames => _graph.Outputs.Select(o => o.Name).ToList();

    /// <summary>Nodes of the graph.</summary>
    public int NodeCount => _graph.Nodes.Count;

    /// <summary>Operator types used, each once.</summary>
    public IReadOnlyList<string> OperatorTypes => _graph.Nodes.Select(n => n.OpType).Distinct().Order(StringComparer.Ordinal).ToList();

    /// <summary>Elements of all bound weights.</summary>
    public long ParameterCount { get; }

    /// <summary>The name of hidden state <paramref name="index"/> (0 = embeddings, i = output of layer i).</summary>
    public static string HiddenState(int index) => $"hidden_states.{index.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// Builds the graph and binds every weight by key, shape and dtype (float32, float16 or bfloat16); fails with a
    /// <see cref="ModelFileException"/> naming the key for a missing or misshapen weight, or listing the keys the
    /// model does not use. Reads no weight data; <paramref name="weights"/> must stay open until <see cref="Write"/>.
    /// </summary>
    public static ClipTextOnnxModel Bind(ClipTextConfig config, WeightSet weights, bool includeHiddenStates)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        int d = config.HiddenSize, heads = config.NumAttentionHeads, headDim = config.HeadDim;
        int positions = config.MaxPositionEmbeddings, layers = config.NumHiddenLayers;
        if (layers < 2)
        {
            throw new ModelFileException(
                $"text_encoder config: num_hidden_layers is {layers}; the pipeline's prompt embedding (clip_skip 1) needs at least 2 layers.", null, "num_hidden_layers");
        }

        var g = new OnnxGraphBuilder("clip_text_model");
        long parameters = 0;
        string W(string key, params int[] shape)
        {
            var tensor = weights.Take(Prefix + key, new TensorShape(shape));
            if (tensor.DType is not (DType.F32 or DType.F16 or DType.BF16))
            {
                throw new ModelFileException($"text_encoder weight '{Prefix + key}' is {tensor.DType}; expected float32, float16 or bfloat16.", weights.FileOf(Prefix + key), Prefix + key);
            }

            parameters += tensor.ElementCount;
            return g.Weight(Prefix + key, tensor);
        }

        g.Input(InputIds, OnnxElementType.Int64, "batch", "sequence");
        var tokenEmbedding = W("embeddings.token_embedding.weight", config.VocabSize, d);
        var positionEmbedding = W("embeddings.position_embedding.weight", positions, d);

        var idsShape = g.Node("Shape", "embeddings", [InputIds]);                                              // [2]: B, L
        var sequence = g.Node("Slice", "embeddings", [idsShape, g.Int64s(1), g.Int64s(2)]);                    // [1]: L
        var tokens = g.Node("Gather", "embeddings", [tokenEmbedding, InputIds], null, OnnxAttribute.Int("axis", 0)); // [B, L, D]
        var positionRows = g.Node("Slice", "embeddings", [positionEmbedding, g.Int64s(0), sequence, g.Int64s(0)]); // [L, D]
        var embeddings = g.Node("Add", "embeddings", [tokens, positionRows], HiddenState(0));                  // [B, L, D]

        var outputShape = g.Node("Concat", "shapes", [idsShape, g.Int64s(d)], null, OnnxAttribute.Int("axis", 0));             // [B, L, D]
        var headShape = g.Node("Concat", "shapes", [idsShape, g.Int64s(heads, headDim)], null, OnnxAttribute.Int("axis", 0)); // [B, L, H, hd]
        var rows = g.Int64s(-1, d);

        // Causal mask: 0 where a position may attend (key <= query), float.MinValue elsewhere, as transformers does.
        var mask = new float[positions * positions];
        for (var q = 0; q < positions; q++)
        {
            Array.Fill(mask, float.MinValue, (q * positions) + q + 1, positions - q - 1);
        }

        var maskFull = g.Floats("causal_mask", mask, positions, positions);
        var maskEnds = g.Node("Concat", "mask", [sequence, sequence], null, OnnxAttribute.Int("axis", 0));
        var causal = g.Node("Slice", "mask", [maskFull, g.Int64s(0, 0), maskEnds, g.Int64s(0, 1)]);  // [L, L]
        var scale = g.Scalar((float)(1.0 / Math.Sqrt(headDim)));

        var x = g.Node("Reshape", "embeddings", [embeddings, rows]);                                          // [N, D]
        var states = new List<string> { x };
        for (var layer = 0; layer < layers; layer++)
        {
            x = EncoderLayer(g, config, $"encoder.layers.{layer}", x, W, headShape, rows, causal, scale);
            states.Add(x);
        }

        var finalWeight = W("final_layer_norm.weight", d);
        var finalBias = W("final_layer_norm.bias", d);
        var eps = OnnxAttribute.Float("epsilon", (float)config.LayerNormEps);
        var last = g.Node("LayerNormalization", "final_layer_norm", [states[layers], finalWeight, finalBias], null, OnnxAttribute.Int("axis", -1), eps);
        var skip1 = g.Node("LayerNormalization", "final_layer_norm", [states[layers - 1], finalWeight, finalBias], null, OnnxAttribute.Int("axis", -1), eps);
        g.Node("Reshape", "outputs", [last, outputShape], LastHiddenState);
        g.Node("Reshape", "outputs", [skip1, outputShape], PromptEmbedsClipSkip1);
        g.Output(LastHiddenState, OnnxElementType.Float, "batch", "sequence", d);
        g.Output(PromptEmbedsClipSkip1, OnnxElementType.Float, "batch", "sequence", d);
        if (includeHiddenStates)
        {
            g.Output(HiddenState(0), OnnxElementType.Float, "batch", "sequence", d);
            for (var i = 1; i <= layers; i++)
            {
                g.Node("Reshape", "outputs", [states[i], outputShape], HiddenState(i));
                g.Output(HiddenState(i), OnnxElementType.Float, "batch", "sequence", d);
            }
        }

        weights.EnsureAllUsed();
        return new ClipTextOnnxModel(config, g, includeHiddenStates, parameters);
    }

    // One pre-LayerNorm CLIPEncoderLayer on x [N, D]; returns the new x [N, D].
    private static string EncoderLayer(
        OnnxGraphBuilder g, ClipTextConfig config, string p, string x, Func<string, int[], string> w,
        string headShape, string rows, string causal, string scale)
    {
        int d = config.HiddenSize, inner = config.IntermediateSize;
        var eps = OnnxAttribute.Float("epsilon", (float)config.LayerNormEps);
        var axis = OnnxAttribute.Int("axis", -1);
        var transB = OnnxAttribute.Int("transB", 1);
        string Linear(string scope, string input, int outFeatures, int inFeatures) =>
            g.Node("Gemm", scope, [input, w($"{scope}.weight", [outFeatures, inFeatures]), w($"{scope}.bias", [outFeatures])], null, transB);

        var a = $"{p}.self_attn";
        var h = g.Node("LayerNormalization", $"{p}.layer_norm1", [x, w($"{p}.layer_norm1.weight", [d]), w($"{p}.layer_norm1.bias", [d])], null, axis, eps);
        var q = g.Node("Reshape", a, [Linear($"{a}.q_proj", h, d, d), headShape]);                                     // [B, L, H, hd]
        var k = g.Node("Reshape", a, [Linear($"{a}.k_proj", h, d, d), headShape]);
        var v = g.Node("Reshape", a, [Linear($"{a}.v_proj", h, d, d), headShape]);
        q = g.Node("Transpose", a, [q], null, OnnxAttribute.Ints("perm", 0, 2, 1, 3));                                 // [B, H, L, hd]
        k = g.Node("Transpose", a, [k], null, OnnxAttribute.Ints("perm", 0, 2, 3, 1));                                 // [B, H, hd, L]
        v = g.Node("Transpose", a, [v], null, OnnxAttribute.Ints("perm", 0, 2, 1, 3));                                 // [B, H, L, hd]
        var scores = g.Node("Mul", a, [g.Node("MatMul", a, [q, k]), scale]);                                           // [B, H, L, L]
        var probs = g.Node("Softmax", a, [g.Node("Add", a, [scores, causal])], null, OnnxAttribute.Int("axis", -1));
        var context = g.Node("Transpose", a, [g.Node("MatMul", a, [probs, v])], null, OnnxAttribute.Ints("perm", 0, 2, 1, 3)); // [B, L, H, hd]
        context = g.Node("Reshape", a, [context, rows]);                                                               // [N, D]
        x = g.Node("Add", p, [x, Linear($"{a}.out_proj", context, d, d)]);

        var m = $"{p}.mlp";
        h = g.Node("LayerNormalization", $"{p}.layer_norm2", [x, w($"{p}.layer_norm2.weight", [d]), w($"{p}.layer_norm2.bias", [d])], null, axis, eps);
        var f = Linear($"{m}.fc1", h, inner, d);                                                                        // [N, I]
        f = config.HiddenAct == ClipActivation.Gelu
            ? g.Node("Mul", m, [g.Node("Mul", m, [f, g.Node("Add", m, [g.Node("Erf", m, [g.Node("Mul", m, [f, g.Scalar((float)Math.Sqrt(0.5))])]), g.Scalar(1f)])]), g.Scalar(0.5f)])
            : g.Node("Mul", m, [f, g.Node("Sigmoid", m, [g.Node("Mul", m, [f, g.Scalar(1.702f)])])]);
        return g.Node("Add", p, [x, Linear($"{m}.fc2", f, d, inner)]);
    }

    /// <summary>
    /// Writes <see cref="ModelFileName"/> and <see cref="DataFileName"/> into <paramref name="folder"/> (which must
    /// not hold them yet), reading the weights now; returns the data file's size in bytes.
    /// </summary>
    public long Write(string folder, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            ["builder_version"] = BuilderVersion.ToString(CultureInfo.InvariantCulture),
        };
        var doc = $"CLIPTextModel ({Config.NumHiddenLayers} layers, {Config.NumAttentionHeads} heads x {Config.HeadDim}, "
            + $"{(Config.HiddenAct == ClipActivation.Gelu ? "gelu" : "quick_gelu")}) built by CudaI2V from its safetensors.";
        return _graph.Write(Path.Combine(folder, ModelFileName), DataFileName, doc, meta);
    }
}
