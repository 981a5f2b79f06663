using CudaI2V.Kernels;
using CudaI2V.Kernels.Cpu;
using CudaI2V.Kernels.Planning;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Kernels;

/// <summary>
/// The multistep samplers' two ops on the CPU backend against the formulas written out here in double: guidance and
/// the conversion to a prediction, the weighted sums with and without UniPC's corrector, the next input's scale and
/// copies, terms of weight 0 left unread, and the refusals; and on the planning backend, shapes and liveness only.
/// </summary>
public sealed class SamplerOpsTests
{
    private static readonly TensorShape Shape = new(3, 5, 7, 4);
    private readonly CpuOps _ops = new();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_prediction_is_a_times_the_latents_plus_b_times_the_guided_output(bool guided)
    {
        var x = Values(1, Shape, 2f);
        var output = Values(2, new TensorShape(guided ? 6 : 3, 5, 7, 4), 1.5f);
        var prediction = Tensor.Zeros(DType.F32, Shape);
        var settings = new SamplerPrediction(1.25f, -0.375f, guided ? 7.5f : null);

        _ops.SamplerPredict(output, x, prediction, settings);

        var xs = x.ToFloat32Array();
        var outs = output.ToFloat32Array();
        var n = xs.Length;
        var expected = xs.Select((v, i) =>
        {
            double m = outs[i];
            if (guided)
            {
                m += 7.5 * (outs[n + i] - m);
            }

            return (1.25 * v) - (0.375 * m);
        }).ToArray();
        new Tolerance(1e-6, 1e-6, 1e-12).AssertClose(expected, prediction, "prediction");
    }

    [Fact]
    public void The_combination_weighs_the_latents_and_three_history_entries_and_writes_scaled_copies()
    {
        var x = Values(3, Shape, 2f);
        var h = new[] { Values(4, Shape, 1f), Values(5, Shape, 1f), Values(6, Shape, 1f) };
        var next = Tensor.Zeros(DType.F32, OpRepeated(2));
        var before = x.ToFloat32Array();
        var combination = new SamplerCombination(new SamplerWeights(0.75f, 0.5f, -0.25f, 0.125f), null, 0.5f);

        _ops.SamplerCombine(x, h, combination, null, next);

        var hs = h.Select(t => t.ToFloat32Array()).ToArray();
        var expected = before.Select((v, i) => (0.75 * v) + (0.5 * hs[0][i]) - (0.25 * hs[1][i]) + (0.125 * hs[2][i])).ToArray();
        var bar = new Tolerance(1e-6, 1e-6, 1e-12);
        bar.AssertClose(expected, x, "latents");
        var copies = next.ToFloat32Array();
        var scaled = x.ToFloat32Array().Select(v => 0.5f * v).ToArray();
        Assert.Equal(scaled, copies[..scaled.Length]);
        Assert.Equal(scaled, copies[scaled.Length..]);
    }

    [Fact]
    public void A_corrector_rebuilds_the_base_from_the_last_sample_and_stores_it()
    {
        var x = Values(7, Shape, 2f);
        var last = Values(8, Shape, 2f);
        var h = new[] { Values(9, Shape, 1f), Values(10, Shape, 1f), Values(11, Shape, 1f) };
        var lastBefore = last.ToFloat32Array();
        var hs = h.Select(t => t.ToFloat32Array()).ToArray();
        var correction = new SamplerWeights(0.9f, -0.05f, 0.1f, 0.02f);
        var update = new SamplerWeights(0.8f, 0.15f, 0.05f);

        _ops.SamplerCombine(x, h, new SamplerCombination(update, correction), last);

        var corrected = lastBefore.Select((v, i) => (0.9 * v) - (0.05 * hs[0][i]) + (0.1 * hs[1][i]) + (0.02 * hs[2][i])).ToArray();
        var bar = new Tolerance(1e-6, 1e-6, 1e-12);
        bar.AssertClose(corrected, last, "last sample");
        bar.AssertClose(corrected.Select((c, i) => (0.8 * c) + (0.15 * hs[0][i]) + (0.05 * hs[1][i])).ToArray(), x, "latents");
    }

    [Fact]
    public void Without_a_corrector_the_last_sample_receives_the_latents_the_step_started_from()
    {
        var x = Values(12, Shape, 2f);
        var before = x.ToFloat32Array();
        var last = Tensor.Zeros(DType.F32, Shape);

        _ops.SamplerCombine(x, [Values(13, Shape, 1f)], new SamplerCombination(new SamplerWeights(0.5f, 0.5f)), last);

        Assert.Equal(before, last.ToFloat32Array());
    }

    [Fact]
    public void Terms_of_weight_zero_are_not_read()
    {
        // The first step's history holds nothing yet: a NaN there must not reach the latents.
        var x = Values(14, Shape, 2f);
        var garbage = Tensor.FromSpan<float>(Enumerable.Repeat(float.NaN, (int)Shape.ElementCount).ToArray(), Shape);
        var prediction = Values(15, Shape, 1f);

        _ops.SamplerCombine(x, [prediction, garbage], new SamplerCombination(new SamplerWeights(0f, 1f)));
        Assert.Equal(prediction.ToFloat32Array(), x.ToFloat32Array());

        var target = Tensor.Zeros(DType.F32, Shape);
        _ops.SamplerPredict(garbage, x, target, new SamplerPrediction(1f, 0f));
        Assert.Equal(x.ToFloat32Array(), target.ToFloat32Array());
    }

    [Fact]
    public void The_identity_leaves_the_latents_and_writes_the_scaled_input()
    {
        var x = Values(16, Shape, 2f);
        var before = x.ToFloat32Array();
        var next = Tensor.Zeros(DType.F32, Shape);

        _ops.SamplerCombine(x, [], SamplerCombination.Identity(0.25f), null, next);

        Assert.Equal(before, x.ToFloat32Array());
        Assert.Equal(before.Select(v => 0.25f * v).ToArray(), next.ToFloat32Array());
    }

    [Fact]
    public void The_ops_refuse_what_does_not_fit_naming_it()
    {
        var x = Tensor.Zeros(DType.F32, Shape);
        var h = Tensor.Zeros(DType.F32, Shape);
        var update = new SamplerWeights(1f, 0.5f, 0.5f);

        Assert.Contains("modelOutput must be F32 [6, 5, 7, 4], got F32 [3, 5, 7, 4]", Refusal(() => _ops.SamplerPredict(x, x, h, new SamplerPrediction(1f, 1f, 9f))), StringComparison.Ordinal);
        Assert.Contains("prediction must be F32 [3, 5, 7, 4], got F32 [3, 5, 7]", Refusal(() => _ops.SamplerPredict(x, x, Tensor.Zeros(DType.F32, new TensorShape(3, 5, 7)), new SamplerPrediction(1f, 1f))), StringComparison.Ordinal);
        Assert.Contains("prediction and latents share memory", Refusal(() => _ops.SamplerPredict(h, x, x, new SamplerPrediction(1f, 1f))), StringComparison.Ordinal);
        Assert.Contains("must be finite", Refusal(() => _ops.SamplerPredict(h, x, Tensor.Zeros(DType.F32, Shape), new SamplerPrediction(float.NaN, 1f))), StringComparison.Ordinal);
        Assert.Contains("latents must be F32 of rank 1 or more", Refusal(() => _ops.SamplerCombine(x.To(DType.F16), [h], new SamplerCombination(update))), StringComparison.Ordinal);
        Assert.Contains("weighs 2 history entries (at most 3); 1 history tensors were given", Refusal(() => _ops.SamplerCombine(x, [h], new SamplerCombination(update))), StringComparison.Ordinal);
        Assert.Contains("history[1] must be F32 [3, 5, 7, 4], got F32 [2, 5, 7, 4]", Refusal(() => _ops.SamplerCombine(x, [h, Tensor.Zeros(DType.F32, new TensorShape(2, 5, 7, 4))], new SamplerCombination(update))), StringComparison.Ordinal);
        Assert.Contains("reads the last sample; lastSample is null", Refusal(() => _ops.SamplerCombine(x, [h, h], new SamplerCombination(update, new SamplerWeights(1f)))), StringComparison.Ordinal);
        Assert.Contains("must be finite", Refusal(() => _ops.SamplerCombine(x, [h, h], new SamplerCombination(update, null, float.PositiveInfinity))), StringComparison.Ordinal);
        Assert.Contains("nextInput must be F32 [3, 5, 7, 4], got F32 [4, 5, 7, 4]", Refusal(() => _ops.SamplerCombine(x, [h, h], new SamplerCombination(update), null, Tensor.Zeros(DType.F32, new TensorShape(4, 5, 7, 4)))), StringComparison.Ordinal);
        Assert.Contains("history[0] and latents share memory", Refusal(() => _ops.SamplerCombine(x, [x, h], new SamplerCombination(update))), StringComparison.Ordinal);
    }

    [Fact]
    public void Planning_a_step_checks_shapes_and_allocates_nothing()
    {
        var planning = new PlanningOps();
        var latents = planning.FromHost(Tensor.Zeros(DType.F32, Shape), DType.F32);
        var output = planning.Empty(DType.F16, OpRepeated(2));
        var slots = new[] { planning.Empty(DType.F32, Shape), planning.Empty(DType.F32, Shape) };
        var next = planning.Empty(DType.F16, OpRepeated(2));
        var before = planning.TensorCount;

        planning.SamplerPredict(output, latents, slots[0], new SamplerPrediction(1f, -0.5f, 9f));
        planning.SamplerCombine(latents, slots, new SamplerCombination(new SamplerWeights(0.5f, 0.25f, 0.25f)), null, next);

        Assert.Equal(before, planning.TensorCount);
        Assert.Equal(before + 2, planning.Steps);

        // Liveness: the model output lives to the prediction, the history slots and the next input to the combination.
        var lastUses = planning.Plan().Buffers.Select(b => b.LastUse).ToArray();
        Assert.Equal([before, before + 1, before + 1, before + 1], lastUses);
        Assert.Contains("modelOutput must be F16", Refusal(() => planning.SamplerPredict(latents, latents, slots[0], new SamplerPrediction(1f, 1f))), StringComparison.Ordinal);
    }

    private static TensorShape OpRepeated(int times) => new(Shape[0] * times, Shape[1], Shape[2], Shape[3]);

    private static Tensor Values(ulong seed, TensorShape shape, float scale) =>
        Tensor.FromSpan<float>(new TestData(seed).Floats((int)shape.ElementCount, scale), shape);

    private static string Refusal(Action action) => Assert.ThrowsAny<ArgumentException>(action).Message;
}
