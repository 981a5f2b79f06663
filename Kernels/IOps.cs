using CudaI2V.Kernels.Memory;
using CudaI2V.Runtime.Compilation;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels;

/// <summary>
/// The op catalogue every layer is written against. Three backends implement it: <c>CpuOps</c> (fp32 host
/// tensors, the reference), <c>CudaOps</c> (fp16 device tensors, fp32 accumulation) and <c>PlanningOps</c> (shapes
/// only: it records what a forward allocates and computes). Where op outputs live and for how long is the
/// backend's <see cref="Memory"/>.
/// </summary>
/// <remarks>
/// <para>
/// Layout: activations are channels-last. Images are (N, H, W, C) with frames folded into the batch,
/// N = batch x frames and image n = b * frames + f. Token sequences are (N, L, C). An op that takes a
/// <c>frames</c> argument treats N consecutive images as videos of that many frames.
/// </para>
/// <para>
/// Weights are passed exactly as PyTorch stores them: Linear weight [out, in] and bias [out]; Conv2d weight
/// [Cout, Cin, kh, kw] and bias [Cout]; the temporal Conv3d weight [Cout, Cin, kt, 1, 1] and bias [Cout];
/// norm gamma and beta [C].
/// </para>
/// <para>
/// Contract shared by every op: tensor arguments are backend tensors (made by <see cref="FromHost"/> or
/// returned by another op of the same backend) in the backend's <see cref="ActivationDType"/>, and they are
/// contiguous (use <see cref="Copy"/> to materialise a strided view). Ops never write their inputs; each
/// returns a new tensor allocated by the backend. Shapes that do not fit throw
/// <see cref="ArgumentException"/> with a message showing the shapes involved.
/// </para>
/// </remarks>
public interface IOps
{
    /// <summary>A short name for messages and reports ("cpu", "cuda").</summary>
    string Name { get; }

    /// <summary>The dtype this backend stores activations and weights in (F32 on the CPU).</summary>
    DType ActivationDType { get; }

    /// <summary>Where this backend's tensors live: scopes, the weight block, planned arenas, graphs (docs/architecture.md, "Memory").</summary>
    IBackendMemory Memory { get; }

    /// <summary>
    /// A second backend on the same device storing activations in <paramref name="activationDType"/> (an fp32 VAE beside an
    /// fp16 UNet), which the caller owns and disposes before this one; null when this backend offers no other dtype.
    /// </summary>
    IOps? CreatePeer(DType activationDType) => null;

    /// <summary>The run-time kernel compiler of a backend that compiles kernels (its counts say how many NVRTC compiled and how many came from the cache); null elsewhere.</summary>
    KernelCompiler? Compiler => null;

    /// <summary>
    /// The rate of counted FLOPs (<c>PlanningOps.Flops</c>) this backend is assumed to sustain, from which the engine
    /// warns before a run of many minutes; null where no rate is assumed (the GPU, where requests take seconds).
    /// </summary>
    double? AssumedFlopsPerSecond => null;

    /// <summary>
    /// Checks <paramref name="watch"/> between this backend's ops until the returned object is disposed: a backend that
    /// computes as it is called (the CPU) throws <see cref="OperationCanceledException"/> from the op that starts, or the
    /// long loop that runs, after the watch's token is cancelled, and counts each op it starts. By default nothing is
    /// checked: a backend that queues work (the GPU) returns long before the work is done, so its callers check
    /// between steps. One watch at a time.
    /// </summary>
    IDisposable Watch(OpWatch watch) => ManagedPieces.NoBlock;

    /// <summary>A new backend tensor of <paramref name="shape"/>; its contents are unspecified.</summary>
    Tensor Empty(DType dtype, TensorShape shape);

    /// <summary>
    /// A new backend tensor holding the values of a host tensor of any floating-point dtype (strided views
    /// allowed), converted to <paramref name="dtype"/>: <see cref="ActivationDType"/> when null. Every backend
    /// also keeps F32 (the scheduler's latents and noise, see <see cref="DdimStep"/>).
    /// </summary>
    Tensor FromHost(Tensor host, DType? dtype = null);

    /// <summary>
    /// A convolution filter [Cout, Cin, kh, kw], or a temporal one [Cout, Cin, kt, 1, 1] (PyTorch's layouts, any
    /// floating-point host dtype), uploaded once for <see cref="Conv2d"/> or <see cref="TemporalConv"/>, in
    /// <see cref="ActivationDType"/> and the memory layout this backend's convolution reads best. The result is
    /// addressed in the host filter's shape, but may be a strided view: the one exception to the contiguity contract,
    /// accepted as those ops' weight. By default, <see cref="FromHost"/>.
    /// </summary>
    Tensor UploadConvWeight(Tensor host) => FromHost(host);

    /// <summary>A new contiguous F32 host tensor holding the values of a backend tensor.</summary>
    Tensor ToHost(Tensor x);

    /// <summary>A new contiguous backend tensor with the values of <paramref name="x"/>, which may be a strided view.</summary>
    Tensor Copy(Tensor x);

    /// <summary>
    /// 2-D cross-correlation (PyTorch's <c>Conv2d</c>) on channels-last images, with an optional fused
    /// epilogue: <c>out = conv(x, weight) + bias[co] + perImage[n, co] + residual[n, y, x, co]</c>, added in
    /// that order.
    /// </summary>
    /// <param name="x">Input (N, H, W, Cin).</param>
    /// <param name="weight">Filter [Cout, Cin, kh, kw] (PyTorch layout, or as <see cref="UploadConvWeight"/> made it); kh and kw are the kernel size.</param>
    /// <param name="bias">Optional [Cout].</param>
    /// <param name="stride">Step between output pixels, the same along both axes (1 or more).</param>
    /// <param name="padding">Zeros added around the image before the convolution.</param>
    /// <param name="perImage">Optional (N, Cout) added to every pixel of image n (a resnet's time embedding).</param>
    /// <param name="residual">Optional (N, Ho, Wo, Cout) added elementwise (a resnet's shortcut).</param>
    /// <returns>
    /// (N, Ho, Wo, Cout) with Ho = (H + top + bottom - kh) / stride + 1 and Wo likewise (integer division),
    /// e.g. 3x3 stride 2 padding 1: Ho = floor((H - 1) / 2) + 1.
    /// </returns>
    Tensor Conv2d(
        Tensor x,
        Tensor weight,
        Tensor? bias,
        int stride,
        Padding2D padding,
        Tensor? perImage = null,
        Tensor? residual = null);

    /// <summary>
    /// Convolution along frames (PyTorch's Conv3d with kernel (kt, 1, 1) and padding (kt / 2, 0, 0)) on
    /// videos folded into the batch: <c>out[b, f, y, x, co] = bias[co] + sum over t, ci of
    /// weight[co, ci, t] * x[b, f + t - kt / 2, y, x, ci]</c>, where frames outside 0..F-1 are zero; then
    /// <paramref name="residual"/> is added if given.
    /// </summary>
    /// <param name="x">Input (B * F, H, W, Cin), image n = b * F + f.</param>
    /// <param name="frames">F, the number of frames per video; N must be a multiple.</param>
    /// <param name="weight">Filter [Cout, Cin, kt, 1, 1] with kt odd (I2VGen-XL: kt = 3).</param>
    /// <param name="bias">Optional [Cout].</param>
    /// <param name="residual">Optional (B * F, H, W, Cout) added to the result.</param>
    /// <returns>(B * F, H, W, Cout).</returns>
    Tensor TemporalConv(Tensor x, int frames, Tensor weight, Tensor? bias, Tensor? residual = null);

    /// <summary>
    /// Group normalisation on channels-last data: <c>y = (x - mean) / sqrt(var + eps) * gamma[c] + beta[c]</c>
    /// with the biased variance. Channel c belongs to group c / (C / groups). Statistics are taken per
    /// (video, group) over all positions of <paramref name="frames"/> consecutive items: with frames = 1 that is
    /// one frame-image (C/G x H x W values); with frames = F it spans all F frames of a video
    /// (C/G x F x H x W values), PyTorch's GroupNorm on the 5-D (B, C, F, H, W) tensor.
    /// </summary>
    /// <param name="x">(N, ..., C) of rank 2 or more, e.g. (N, H, W, C) or (N, L, C); N a multiple of frames.</param>
    /// <param name="groups">G; C must be a multiple.</param>
    /// <param name="gamma">Scale [C].</param>
    /// <param name="beta">Shift [C].</param>
    /// <param name="eps">Added to the variance.</param>
    /// <param name="frames">Items per statistics window (1 = per image).</param>
    /// <returns>A tensor of x's shape.</returns>
    Tensor GroupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, int frames = 1);

    /// <summary>Fused <c>Silu(GroupNorm(...))</c>; the arguments are those of <see cref="GroupNorm"/>.</summary>
    /// <returns>A tensor of x's shape.</returns>
    Tensor GroupNormSilu(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, int frames = 1);

    /// <summary>
    /// Layer normalisation over the last axis: <c>y = (x - mean) / sqrt(var + eps) * gamma + beta</c> per row,
    /// biased variance.
    /// </summary>
    /// <param name="x">(..., C).</param>
    /// <param name="gamma">Scale [C].</param>
    /// <param name="beta">Shift [C].</param>
    /// <param name="eps">Added to the variance.</param>
    /// <returns>A tensor of x's shape.</returns>
    Tensor LayerNorm(Tensor x, Tensor gamma, Tensor beta, float eps);

    /// <summary>
    /// PyTorch's Linear with an optional fused residual: <c>out = x @ weight^T + bias + residual</c>.
    /// </summary>
    /// <param name="x">(..., in).</param>
    /// <param name="weight">[out, in] (PyTorch layout).</param>
    /// <param name="bias">Optional [out].</param>
    /// <param name="residual">Optional (..., out), added last.</param>
    /// <returns>(..., out).</returns>
    Tensor Linear(Tensor x, Tensor weight, Tensor? bias, Tensor? residual = null);

    /// <summary>
    /// Multi-head scaled dot-product attention without mask (PyTorch SDPA after diffusers' head split):
    /// for each batch b and head h, <c>out = softmax(q_h k_h^T / sqrt(d)) v_h</c>, where head h owns channels
    /// h * d .. h * d + d - 1 of q, k, v and of the output. k and v may have fewer rows than q: with Bk rows, Bk
    /// dividing B, q's row b reads k/v row <c>b / (B / Bk)</c> (a context shared by consecutive rows, as a video's
    /// frames share its context, projected once rather than repeated); Bk = B is the plain per-row attention.
    /// </summary>
    /// <param name="q">(B, Lq, heads * d).</param>
    /// <param name="k">(Bk, Lk, heads * d), Bk dividing B.</param>
    /// <param name="v">(Bk, Lk, heads * d).</param>
    /// <param name="heads">Number of heads; the channel count must be a multiple.</param>
    /// <returns>(B, Lq, heads * d), heads merged back in channel order.</returns>
    Tensor Attention(Tensor q, Tensor k, Tensor v, int heads);

    /// <summary>SiLU, <c>x * sigmoid(x)</c>, elementwise.</summary>
    /// <returns>A tensor of x's shape.</returns>
    Tensor Silu(Tensor x);

    /// <summary>Exact GELU, <c>x * 0.5 * (1 + erf(x / sqrt(2)))</c>, elementwise (PyTorch approximate="none").</summary>
    /// <returns>A tensor of x's shape.</returns>
    Tensor Gelu(Tensor x);

    /// <summary>
    /// Quick GELU, <c>x * sigmoid(1.702 * x)</c>, elementwise (transformers' <c>quick_gelu</c>, the activation of
    /// OpenAI's CLIP; a CLIP config selects it with <c>hidden_act: "quick_gelu"</c>).
    /// </summary>
    /// <returns>A tensor of x's shape.</returns>
    Tensor QuickGelu(Tensor x);

    /// <summary>
    /// GEGLU activation: x is (..., 2 * D); the first D channels are the value, the last D the gate;
    /// <c>out = value * Gelu(gate)</c>.
    /// </summary>
    /// <returns>(..., D).</returns>
    Tensor Geglu(Tensor x);

    /// <summary>Elementwise <c>a + b</c>; both of one shape.</summary>
    /// <returns>A tensor of that shape.</returns>
    Tensor Add(Tensor a, Tensor b);

    /// <summary>
    /// <c>x + rows</c> with one row per leading index broadcast over the middle axes:
    /// <c>out[n, ..., c] = x[n, ..., c] + rows[n, c]</c> (a time embedding (N, C) added to (N, H, W, C)).
    /// </summary>
    /// <param name="x">(N, ..., C), rank 2 or more.</param>
    /// <param name="rows">(N, C).</param>
    /// <returns>A tensor of x's shape.</returns>
    Tensor AddBroadcastRows(Tensor x, Tensor rows);

    /// <summary>
    /// Concatenation along <paramref name="axis"/>, parts in order: the last axis joins channels (an up
    /// block's [hidden ; skip]), axis 1 of (N, L, C) joins token sequences.
    /// </summary>
    /// <param name="parts">One or more tensors of one rank, equal in every dimension except <paramref name="axis"/>.</param>
    /// <param name="axis">The axis to join; negative counts from the end.</param>
    /// <returns>The joined tensor.</returns>
    Tensor Concat(IReadOnlyList<Tensor> parts, int axis);

    /// <summary>
    /// Nearest-neighbour resize of (N, H, W, C) to (N, Ho, Wo, C) (PyTorch's "nearest"):
    /// output row y reads input row floor(y * H / Ho), and likewise for columns. Doubling is the common case;
    /// any sizes work, including odd skip sizes (7x9 to 13x18).
    /// </summary>
    /// <returns>(N, outHeight, outWidth, C).</returns>
    Tensor UpsampleNearest(Tensor x, int outHeight, int outWidth);

    /// <summary>
    /// PyTorch's AdaptiveAvgPool2d on (N, H, W, C): output row i averages input rows
    /// [floor(i * H / Ho), ceil((i + 1) * H / Ho)), columns likewise; windows may differ in size and overlap.
    /// </summary>
    /// <returns>(N, outHeight, outWidth, C).</returns>
    Tensor AdaptiveAvgPool2d(Tensor x, int outHeight, int outWidth);

    /// <summary>
    /// Sinusoidal timestep features (diffusers' <c>get_timestep_embedding</c>, docs/i2vgenxl-spec.md section 3.2.1), in float32:
    /// with half = features / 2, <c>freq_i = exp(float(-ln maxPeriod) * i / (half - downscaleFreqShift))</c> and
    /// <c>arg_i = t * freq_i</c>, the row is [sin(arg) ; cos(arg)], or [cos(arg) ; sin(arg)] when
    /// <paramref name="flipSinToCos"/>; an odd feature count gets one trailing zero.
    /// </summary>
    /// <param name="timesteps">One value per batch row (a timestep or an fps value).</param>
    /// <param name="features">Features per row (I2VGen-XL: 320).</param>
    /// <param name="flipSinToCos">Put the cosine half first (I2VGen-XL: true).</param>
    /// <param name="downscaleFreqShift">Subtracted from half in the exponent's divisor (I2VGen-XL: 0).</param>
    /// <param name="maxPeriod">The longest period (diffusers: 10000).</param>
    /// <returns>(timesteps.Length, features) in <see cref="ActivationDType"/>.</returns>
    Tensor TimestepFeatures(
        ReadOnlySpan<float> timesteps,
        int features,
        bool flipSinToCos,
        float downscaleFreqShift,
        float maxPeriod = 10000f);

    /// <summary>
    /// Rearranges images into per-pixel frame sequences for temporal layers:
    /// (B * F, H, W, C) to (B * H * W, F, C), <c>out[(b * H + y) * W + x, f, c] = x[b * F + f, y, x, c]</c>.
    /// </summary>
    /// <param name="x">(B * F, H, W, C).</param>
    /// <param name="frames">F; N must be a multiple.</param>
    /// <returns>(B * H * W, F, C).</returns>
    Tensor FramesToSequences(Tensor x, int frames);

    /// <summary>The inverse of <see cref="FramesToSequences"/>: (B * H * W, F, C) to (B * F, H, W, C).</summary>
    /// <param name="x">(B * H * W, F, C).</param>
    /// <param name="height">H.</param>
    /// <param name="width">W; the first dimension must be a multiple of H * W.</param>
    /// <returns>(B * F, H, W, C).</returns>
    Tensor SequencesToFrames(Tensor x, int height, int width);

    /// <summary>Edge conversion of a PyTorch image batch: (N, C, H, W) to channels-last (N, H, W, C).</summary>
    /// <returns>(N, H, W, C).</returns>
    Tensor NchwToNhwc(Tensor x);

    /// <summary>Edge conversion back to PyTorch layout: (N, H, W, C) to (N, C, H, W).</summary>
    /// <returns>(N, C, H, W).</returns>
    Tensor NhwcToNchw(Tensor x);

    /// <summary>
    /// Edge conversion of a PyTorch video batch: (B, C, F, H, W) to channels-last images with frames folded
    /// into the batch, (B * F, H, W, C), image n = b * F + f.
    /// </summary>
    /// <returns>(B * F, H, W, C).</returns>
    Tensor NcfhwToNhwc(Tensor x);

    /// <summary>Edge conversion back to a PyTorch video batch: (B * F, H, W, C) to (B, C, F, H, W).</summary>
    /// <param name="x">(B * F, H, W, C).</param>
    /// <param name="frames">F; N must be a multiple.</param>
    /// <returns>(B, C, F, H, W).</returns>
    Tensor NhwcToNcfhw(Tensor x, int frames);

    /// <summary>
    /// The scheduler's update, and the one op that writes an argument: classifier-free guidance and one DDIM
    /// step on the F32 latents, in place, with <see cref="DdimUpdate"/>'s float32 operations in its order (equal
    /// bit for bit on every backend from the same model output). It also writes the new latents, rounded to
    /// <see cref="ActivationDType"/>, as the next UNet input.
    /// </summary>
    /// <param name="modelOutput">The UNet output in <see cref="ActivationDType"/>: the latents' shape, or with guidance twice as many items along axis 0, the unconditional half first.</param>
    /// <param name="latents">x_t as an F32 backend tensor (<see cref="FromHost"/> with F32), replaced by x_prev.</param>
    /// <param name="settings">The step's prediction type, coefficients, guidance and clipping.</param>
    /// <param name="noise">F32 standard-normal values of the latents' shape, weighted by the step's std_dev_t (eta &gt; 0), or null.</param>
    /// <param name="nextInput">Receives the new latents in <see cref="ActivationDType"/>, repeated k &gt;= 1 times along axis 0 (k = 2 for a guided UNet input), or null.</param>
    void DdimStep(Tensor modelOutput, Tensor latents, DdimStepSettings settings, Tensor? noise = null, Tensor? nextInput = null);

    /// <summary>How many values of <paramref name="x"/> are NaN or infinite (a backend that queues work waits for x).</summary>
    long CountNonFinite(Tensor x);

    /// <summary>
    /// Writes how many values of <paramref name="x"/> are NaN or infinite into <paramref name="counter"/> (an I64 backend
    /// tensor of one element, made by <see cref="Empty"/>) without waiting: read it later through
    /// <see cref="IBackendMemory.CopyToHostLater"/>.
    /// </summary>
    void CountNonFinite(Tensor x, Tensor counter);

    /// <summary>
    /// Copies <paramref name="source"/> (any layout) into the existing contiguous tensor <paramref name="destination"/> of
    /// the same dtype and shape: how fixed buffers, such as a recorded graph's inputs, receive new values.
    /// </summary>
    void CopyInto(Tensor source, Tensor destination);

    /// <summary>
    /// A multistep sampler's first stage (on the GPU the first kernel of <c>SamplerStep.cu</c>): classifier-free
    /// guidance and the conversion of the model output into the solver's prediction, written to a history slot:
    /// <c>prediction = a * x + b * m</c> with m = u + g * (c - u) when guided, in <see cref="SamplerUpdate.Predict"/>'s
    /// float32 operations and order (equal bit for bit on every backend from the same model output).
    /// </summary>
    /// <param name="modelOutput">The UNet output in <see cref="ActivationDType"/>: the latents' shape, or with guidance twice as many items along axis 0, the unconditional half first.</param>
    /// <param name="latents">x_t as an F32 backend tensor (read only).</param>
    /// <param name="prediction">An F32 tensor of the latents' shape that receives the prediction (a history slot; apart from the other two).</param>
    /// <param name="settings">The weights a and b (from the sampler's step) and the guidance scale.</param>
    void SamplerPredict(Tensor modelOutput, Tensor latents, Tensor prediction, SamplerPrediction settings);

    /// <summary>
    /// A multistep sampler's second stage, which writes its arguments: the new F32 latents in place as a weighted sum
    /// of the (optionally corrected) sample and up to three predictions of the history, UniPC's last sample, and the
    /// next UNet input (<see cref="SamplerCombination"/>; <see cref="SamplerUpdate.Combine"/>'s operations and order).
    /// A term whose weight is 0 is not read.
    /// </summary>
    /// <param name="latents">x as an F32 backend tensor, replaced by the new latents.</param>
    /// <param name="history">F32 tensors of the latents' shape, newest first (history[0] is this step's prediction); at least as many as the combination weighs, at most 3.</param>
    /// <param name="combination">The step's weights and the next input's scale.</param>
    /// <param name="lastSample">An F32 tensor of the latents' shape: read by a corrector, then replaced by the base sample (UniPC's last_sample); or null (then the combination has no corrector).</param>
    /// <param name="nextInput">Receives InputScale times the new latents in <see cref="ActivationDType"/>, repeated k &gt;= 1 times along axis 0 (k = 2 for a guided UNet input), or null.</param>
    void SamplerCombine(Tensor latents, IReadOnlyList<Tensor> history, SamplerCombination combination, Tensor? lastSample = null, Tensor? nextInput = null);
}
