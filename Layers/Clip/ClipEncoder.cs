using CudaI2V.Layers.Modules;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Layers.Clip;

/// <summary>
/// transformers' <c>CLIPAttention</c> without a mask (the vision tower): q, k, v = q_proj(x), k_proj(x), v_proj(x);
/// softmax(q k^T / sqrt(d)) v per head (head j owns channels [j d, (j + 1) d)); then out_proj. Keys
/// <c>{prefix}.q_proj</c>, <c>k_proj</c>, <c>v_proj</c>, <c>out_proj</c>, each a [C, C] weight with a [C] bias.
/// </summary>
public sealed class ClipAttention
{
    private readonly WeightBinder _w;
    private readonly Linear _qProj;
    private readonly Linear _kProj;
    private readonly Linear _vProj;
    private readonly Linear _outProj;

    /// <summary>Binds the layer.</summary>
    /// <param name="w">Weights.</param>
    /// <param name="prefix">Key prefix, e.g. <c>vision_model.encoder.layers.0.self_attn</c>.</param>
    /// <param name="hiddenSize">C, the token width; a multiple of <paramref name="heads"/>.</param>
    /// <param name="heads">Head count; head dimension d = C / heads.</param>
    public ClipAttention(WeightBinder w, string prefix, int hiddenSize, int heads)
    {
        ArgumentNullException.ThrowIfNull(w);
        _w = w;
        Heads = heads;
        _qProj = new Linear(w, $"{prefix}.q_proj", hiddenSize, hiddenSize);
        _kProj = new Linear(w, $"{prefix}.k_proj", hiddenSize, hiddenSize);
        _vProj = new Linear(w, $"{prefix}.v_proj", hiddenSize, hiddenSize);
        _outProj = new Linear(w, $"{prefix}.out_proj", hiddenSize, hiddenSize);
    }

    /// <summary>Head count.</summary>
    public int Heads { get; }

    /// <summary>Self-attention over x (B, L, C); returns (B, L, C), plus <paramref name="residual"/> (B, L, C) if given.</summary>
    public Tensor Forward(Tensor x, Tensor? residual = null)
    {
        var q = _qProj.Forward(x);                       // (B, L, C)
        var k = _kProj.Forward(x);                       // (B, L, C)
        var v = _vProj.Forward(x);                       // (B, L, C)
        var o = _w.Ops.Attention(q, k, v, Heads);        // (B, L, C), scale 1/sqrt(C / heads)
        return _outProj.Forward(o, residual);            // (B, L, C)
    }
}

/// <summary>
/// transformers' <c>CLIPMLP</c>: fc1 (C to intermediate), the config's activation (exact GELU or quick GELU), fc2
/// back to C. Keys <c>{prefix}.fc1</c> [I, C] + [I] and <c>{prefix}.fc2</c> [C, I] + [C].
/// </summary>
public sealed class ClipMlp
{
    private readonly WeightBinder _w;
    private readonly Linear _fc1;
    private readonly Linear _fc2;
    private readonly ClipActivation _activation;

    /// <summary>Binds the layer.</summary>
    public ClipMlp(WeightBinder w, string prefix, int hiddenSize, int intermediateSize, ClipActivation activation)
    {
        ArgumentNullException.ThrowIfNull(w);
        _w = w;
        _activation = activation;
        _fc1 = new Linear(w, $"{prefix}.fc1", hiddenSize, intermediateSize);
        _fc2 = new Linear(w, $"{prefix}.fc2", intermediateSize, hiddenSize);
    }

    /// <summary>(..., C) to (..., C), plus <paramref name="residual"/> (..., C) if given.</summary>
    public Tensor Forward(Tensor x, Tensor? residual = null)
    {
        var h = _fc1.Forward(x);                                                                  // (..., I)
        h = _activation == ClipActivation.QuickGelu ? _w.Ops.QuickGelu(h) : _w.Ops.Gelu(h);        // (..., I)
        return _fc2.Forward(h, residual);                                                         // (..., C)
    }
}

/// <summary>
/// transformers' <c>CLIPEncoderLayer</c>, pre-norm: x = x + self_attn(layer_norm1(x)); x = x + mlp(layer_norm2(x)).
/// Keys under <c>{prefix}</c>: <c>self_attn.*</c>, <c>layer_norm1</c>, <c>mlp.*</c>, <c>layer_norm2</c>.
/// </summary>
public sealed class ClipEncoderLayer
{
    private readonly LayerNorm _layerNorm1;
    private readonly ClipAttention _selfAttn;
    private readonly LayerNorm _layerNorm2;
    private readonly ClipMlp _mlp;

    /// <summary>Binds layer <paramref name="prefix"/> with the sizes of <paramref name="config"/>.</summary>
    public ClipEncoderLayer(WeightBinder w, string prefix, ClipConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var (c, eps) = (config.HiddenSize, (float)config.LayerNormEps);
        _layerNorm1 = new LayerNorm(w, $"{prefix}.layer_norm1", c, eps);
        _selfAttn = new ClipAttention(w, $"{prefix}.self_attn", c, config.NumAttentionHeads);
        _layerNorm2 = new LayerNorm(w, $"{prefix}.layer_norm2", c, eps);
        _mlp = new ClipMlp(w, $"{prefix}.mlp", c, config.IntermediateSize, config.HiddenAct);
    }

    /// <summary>(B, L, C) to (B, L, C).</summary>
    public Tensor Forward(Tensor x)
    {
        x = _selfAttn.Forward(_layerNorm1.Forward(x), residual: x);     // (B, L, C)
        return _mlp.Forward(_layerNorm2.Forward(x), residual: x);       // (B, L, C)
    }
}

/// <summary>
/// transformers' <c>CLIPEncoder</c>: <c>num_hidden_layers</c> <see cref="ClipEncoderLayer"/>s applied in order,
/// keys <c>{prefix}.layers.{i}.*</c>.
/// </summary>
public sealed class ClipEncoder
{
    private readonly ClipEncoderLayer[] _layers;

    /// <summary>Binds every layer of <paramref name="config"/> under <paramref name="prefix"/>.</summary>
    public ClipEncoder(WeightBinder w, string prefix, ClipConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        _layers = new ClipEncoderLayer[config.NumHiddenLayers];
        for (var i = 0; i < _layers.Length; i++)
        {
            _layers[i] = new ClipEncoderLayer(w, $"{prefix}.layers.{i}", config);
        }
    }

    /// <summary>The layers, in order.</summary>
    public IReadOnlyList<ClipEncoderLayer> Layers => _layers;

    /// <summary>(B, L, C) through every layer: the encoder's last hidden state (B, L, C).</summary>
    public Tensor Forward(Tensor x)
    {
        foreach (var layer in _layers)
        {
            x = layer.Forward(x);                                       // (B, L, C)
        }

        return x;
    }
}
