using CudaI2V.Kernels;
using CudaI2V.Kernels.Memory;
using CudaI2V.Layers.Vae;
using CudaI2V.Loader;
using CudaI2V.Loader.Configs;
using CudaI2V.Runtime.Memory;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Engine;

/// <summary>
/// The VAE decoder of one request as a <see cref="PlannedForward"/>, run chunk after chunk on one arena, as the UNet
/// step is (<see cref="PlannedUNetStep"/>): the decode of <c>chunk</c> frames is planned on a shape-only VAE, packed by
/// liveness, taken before any work and replayed for every chunk, so decoding allocates nothing but each chunk's small
/// input. A shorter last chunk is padded with zero latents to the planned size and the padding's images dropped: the
/// decoder treats every frame on its own (convolutions, per-image group norms, per-image attention), so the real frames
/// are unchanged.
/// </summary>
public sealed class PlannedVaeDecode : IDisposable
{
    private readonly IOps _ops;
    private readonly PlannedForward _forward;
    private readonly TensorShape _input;

    private PlannedVaeDecode(IOps ops, PlannedForward forward, TensorShape input)
    {
        _ops = ops;
        _forward = forward;
        _input = input;
    }

    /// <summary>The packed plan of one chunk's decode.</summary>
    public ArenaPlan Plan => _forward.Plan.Arena;

    /// <summary>Frames decoded per call.</summary>
    public int Chunk => _input[0];

    /// <summary>
    /// Plans the decode of <paramref name="chunk"/> frames of (<paramref name="height"/>, <paramref name="width"/>)
    /// latents and takes its arena. <paramref name="shapes"/> is the VAE's weight layout (key, dtype, shape),
    /// <paramref name="config"/> its config; <paramref name="ops"/> is the backend the VAE's weights live on.
    /// </summary>
    /// <exception cref="ArenaOutOfMemoryException">The plan does not fit the backend's available memory.</exception>
    public static PlannedVaeDecode Create(IOps ops, VaeConfig config, IReadOnlyList<WeightManifestEntry> shapes, int chunk, int height, int width, long reserve = RequestMemory.Reserve)
    {
        ArgumentNullException.ThrowIfNull(ops);
        return Create(ops, config, PlanDecode(ops.ActivationDType, config, shapes, chunk, height, width), chunk, height, width, reserve);
    }

    /// <summary>Takes the arena of a decode planned by <see cref="PlanDecode"/> with these sizes (for <paramref name="ops"/>' dtype).</summary>
    /// <exception cref="ArenaOutOfMemoryException">The plan does not fit the backend's available memory.</exception>
    public static PlannedVaeDecode Create(IOps ops, VaeConfig config, ForwardPlan plan, int chunk, int height, int width, long reserve = RequestMemory.Reserve)
    {
        ArgumentNullException.ThrowIfNull(ops);
        ArgumentNullException.ThrowIfNull(config);
        var forward = PlannedForward.Create(ops, plan, reserve, "VAE decode arena");
        return new PlannedVaeDecode(ops, forward, new TensorShape(chunk, height, width, config.LatentChannels));
    }

    /// <summary>Plans the decode of <paramref name="chunk"/> frames in <paramref name="dtype"/> without touching a device.</summary>
    public static ForwardPlan PlanDecode(DType dtype, VaeConfig config, IReadOnlyList<WeightManifestEntry> shapes, int chunk, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(shapes);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunk, 1);
        return PlannedForward.Record(dtype, planning =>
        {
            using var weights = PlannedUNetStep.ShapeOnly("vae", shapes, WeightAliases.LegacyVaeAttention);
            var vae = AutoencoderKL.Load(planning, weights, config);
            var latents = PlannedUNetStep.Input(planning, new TensorShape(chunk, height, width, config.LatentChannels));
            return () => vae.Decode(latents);
        });
    }

    /// <summary>
    /// Decodes up to <see cref="Chunk"/> frames of host latents (n, h, w, latent), already unscaled, to host
    /// images (n, H, W, out) in F32.
    /// </summary>
    public Tensor Decode(AutoencoderKL vae, Tensor latents)
    {
        ArgumentNullException.ThrowIfNull(vae);
        ArgumentNullException.ThrowIfNull(latents);
        var count = latents.Shape[0];
        if (latents.Shape.Rank != 4 || count < 1 || count > Chunk || latents.Shape[1] != _input[1] || latents.Shape[2] != _input[2] || latents.Shape[3] != _input[3])
        {
            throw new ArgumentException($"The planned decode takes 1 to {Chunk} frames of ({_input[1]}, {_input[2]}, {_input[3]}) latents; got {latents.Shape}.", nameof(latents));
        }

        var padded = Tensor.Zeros(DType.F32, _input);
        latents.To(DType.F32).AsBytes().CopyTo(padded.AsBytes());
        using var scope = _ops.Memory.BeginScope();
        var input = _ops.FromHost(padded);
        var images = _forward.Run(() => vae.Decode(input));
        return _ops.ToHost(images.Slice(0, 0, count));
    }

    /// <inheritdoc/>
    public void Dispose() => _forward.Dispose();
}
