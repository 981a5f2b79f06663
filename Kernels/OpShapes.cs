using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels;

/// <summary>
/// Shape checks and output shapes of the <see cref="IOps"/> entries, shared by every backend so that both
/// refuse the same inputs with the same messages. Each method throws <see cref="ArgumentException"/> naming
/// the op and showing the shapes involved, and returns the output shape.
/// </summary>
internal static partial class OpShapes
{
    public static TensorShape Conv2d(
        Tensor x, Tensor weight, Tensor? bias, int stride, Padding2D padding, Tensor? perImage, Tensor? residual)
    {
        const string op = "Conv2d";
        RequireRank(op, "x", x, 4, "(N, H, W, Cin)");
        RequireRank(op, "weight", weight, 4, "[Cout, Cin, kh, kw]");
        var (n, h, w, cin) = (x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]);
        var (cout, kh, kw) = (weight.Shape[0], weight.Shape[2], weight.Shape[3]);
        if (weight.Shape[1] != cin)
        {
            throw Fail(op, $"weight {weight.Shape} expects {weight.Shape[1]} input channels but x {x.Shape} has {cin}.");
        }

        if (stride < 1)
        {
            throw Fail(op, $"stride must be 1 or more, got {stride}.");
        }

        if (padding.Top < 0 || padding.Bottom < 0 || padding.Left < 0 || padding.Right < 0)
        {
            throw Fail(op, $"padding cannot be negative, got {padding}.");
        }

        var paddedH = h + padding.Top + padding.Bottom;
        var paddedW = w + padding.Left + padding.Right;
        if (kh < 1 || kw < 1 || paddedH < kh || paddedW < kw)
        {
            throw Fail(op, $"kernel {kh}x{kw} of weight {weight.Shape} does not fit x {x.Shape} padded by {padding}.");
        }

        var output = new TensorShape(n, ((paddedH - kh) / stride) + 1, ((paddedW - kw) / stride) + 1, cout);
        RequireVector(op, "bias", bias, cout);
        RequireShape(op, "perImage", perImage, new TensorShape(n, cout));
        RequireShape(op, "residual", residual, output);
        return output;
    }

    public static TensorShape TemporalConv(Tensor x, int frames, Tensor weight, Tensor? bias, Tensor? residual)
    {
        const string op = "TemporalConv";
        RequireRank(op, "x", x, 4, "(B * F, H, W, Cin)");
        RequireFrames(op, x, frames);
        RequireRank(op, "weight", weight, 5, "[Cout, Cin, kt, 1, 1]");
        var kt = weight.Shape[2];
        if (weight.Shape[1] != x.Shape[3] || kt % 2 == 0 || weight.Shape[3] != 1 || weight.Shape[4] != 1)
        {
            throw Fail(op, $"weight {weight.Shape} must be [Cout, {x.Shape[3]}, kt, 1, 1] with kt odd for x {x.Shape}.");
        }

        var output = new TensorShape(x.Shape[0], x.Shape[1], x.Shape[2], weight.Shape[0]);
        RequireVector(op, "bias", bias, weight.Shape[0]);
        RequireShape(op, "residual", residual, output);
        return output;
    }

    public static void GroupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, int frames)
    {
        const string op = "GroupNorm";
        if (x.Shape.Rank < 2)
        {
            throw Fail(op, $"x must be (N, ..., C) of rank 2 or more, got {x.Shape}.");
        }

        var c = x.Shape[^1];
        if (groups < 1 || c % groups != 0)
        {
            throw Fail(op, $"{c} channels of x {x.Shape} do not split into {groups} groups.");
        }

        RequireFrames(op, x, frames);
        RequireVector(op, "gamma", gamma, c);
        RequireVector(op, "beta", beta, c);
    }

    public static void LayerNorm(Tensor x, Tensor gamma, Tensor beta)
    {
        const string op = "LayerNorm";
        if (x.Shape.Rank < 1)
        {
            throw Fail(op, "x must have at least one axis.");
        }

        RequireVector(op, "gamma", gamma, x.Shape[^1]);
        RequireVector(op, "beta", beta, x.Shape[^1]);
    }

    public static TensorShape Linear(Tensor x, Tensor weight, Tensor? bias, Tensor? residual)
    {
        const string op = "Linear";
        RequireRank(op, "weight", weight, 2, "[out, in]");
        if (x.Shape.Rank < 1 || x.Shape[^1] != weight.Shape[1])
        {
            throw Fail(op, $"x {x.Shape} must end in {weight.Shape[1]} features to match weight {weight.Shape}.");
        }

        var dims = x.Shape.Dims.ToArray();
        dims[^1] = weight.Shape[0];
        var output = new TensorShape(dims);
        RequireVector(op, "bias", bias, weight.Shape[0]);
        RequireShape(op, "residual", residual, output);
        return output;
    }

    /// <summary>
    /// Checks the <see cref="IOps.Attention"/> shapes and returns the group: how many consecutive q rows share one k/v
    /// row (q rows / k rows; 1 when k and v have a row per q row, or when q or k has no rows).
    /// </summary>
    public static int Attention(Tensor q, Tensor k, Tensor v, int heads)
    {
        const string op = "Attention";
        RequireRank(op, "q", q, 3, "(B, Lq, heads * d)");
        RequireRank(op, "k", k, 3, "(Bk, Lk, heads * d)");
        RequireRank(op, "v", v, 3, "(Bk, Lk, heads * d)");
        if (k.Shape != v.Shape || k.Shape[2] != q.Shape[2])
        {
            throw Fail(op, $"q {q.Shape}, k {k.Shape} and v {v.Shape} must share channels, and k and v their shape.");
        }

        if (k.Shape[0] == 0 ? q.Shape[0] != 0 : q.Shape[0] % k.Shape[0] != 0)
        {
            throw Fail(
                op,
                $"k {k.Shape} and v {v.Shape} have {k.Shape[0]} rows, which do not divide the {q.Shape[0]} rows of q {q.Shape}: "
                + "pass one k/v row per q row, or one per group of consecutive q rows (a video's frames sharing its context).");
        }

        if (heads < 1 || q.Shape[2] % heads != 0)
        {
            throw Fail(op, $"{q.Shape[2]} channels of q {q.Shape} do not split into {heads} heads.");
        }

        if (k.Shape[1] < 1)
        {
            throw Fail(op, $"k {k.Shape} has no keys to attend to.");
        }

        return k.Shape[0] == 0 || q.Shape[0] == 0 ? 1 : q.Shape[0] / k.Shape[0];
    }

    public static TensorShape Geglu(Tensor x)
    {
        if (x.Shape.Rank < 1 || x.Shape[^1] % 2 != 0)
        {
            throw Fail("Geglu", $"x {x.Shape} must end in an even number of channels (value ; gate).");
        }

        var dims = x.Shape.Dims.ToArray();
        dims[^1] /= 2;
        return new TensorShape(dims);
    }

    public static void SameShape(string op, Tensor a, Tensor b)
    {
        if (a.Shape != b.Shape)
        {
            throw Fail(op, $"shapes {a.Shape} and {b.Shape} differ.");
        }
    }

    public static void AddBroadcastRows(Tensor x, Tensor rows)
    {
        const string op = "AddBroadcastRows";
        if (x.Shape.Rank < 2)
        {
            throw Fail(op, $"x must be (N, ..., C) of rank 2 or more, got {x.Shape}.");
        }

        RequireShape(op, "rows", rows, new TensorShape(x.Shape[0], x.Shape[^1]));
    }

    public static TensorShape Concat(IReadOnlyList<Tensor> parts, int axis, out int normalizedAxis)
    {
        const string op = "Concat";
        if (parts.Count == 0)
        {
            throw Fail(op, "needs at least one tensor.");
        }

        var first = parts[0].Shape;
        if (axis < -first.Rank || axis >= first.Rank)
        {
            throw Fail(op, $"axis {axis} is outside shape {first}.");
        }

        normalizedAxis = axis < 0 ? axis + first.Rank : axis;
        var dims = first.Dims.ToArray();
        dims[normalizedAxis] = 0;
        foreach (var part in parts)
        {
            var shape = part.Shape;
            var fits = shape.Rank == first.Rank;
            for (var d = 0; fits && d < shape.Rank; d++)
            {
                fits = d == normalizedAxis || shape[d] == first[d];
            }

            if (!fits)
            {
                throw Fail(op, $"along axis {normalizedAxis}, {shape} does not fit {first}.");
            }

            dims[normalizedAxis] += shape[normalizedAxis];
        }

        return new TensorShape(dims);
    }

    public static TensorShape Resize(string op, Tensor x, int outHeight, int outWidth)
    {
        RequireRank(op, "x", x, 4, "(N, H, W, C)");
        if (outHeight < 1 || outWidth < 1 || x.Shape[1] < 1 || x.Shape[2] < 1)
        {
            throw Fail(op, $"cannot resize x {x.Shape} to {outHeight}x{outWidth}.");
        }

        return new TensorShape(x.Shape[0], outHeight, outWidth, x.Shape[3]);
    }

    public static TensorShape TimestepFeatures(int count, int features, float downscaleFreqShift, float maxPeriod)
    {
        const string op = "TimestepFeatures";
        if (features < 2)
        {
            throw Fail(op, $"features must be 2 or more, got {features}.");
        }

        if (features / 2 - downscaleFreqShift == 0 || !(maxPeriod > 0))
        {
            throw Fail(op, $"{features} features with shift {downscaleFreqShift} and max period {maxPeriod} give no frequencies.");
        }

        return new TensorShape(count, features);
    }

    public static TensorShape FramesToSequences(Tensor x, int frames)
    {
        const string op = "FramesToSequences";
        RequireRank(op, "x", x, 4, "(B * F, H, W, C)");
        RequireFrames(op, x, frames);
        var batch = x.Shape[0] / frames;
        return new TensorShape(batch * x.Shape[1] * x.Shape[2], frames, x.Shape[3]);
    }

    public static TensorShape SequencesToFrames(Tensor x, int height, int width)
    {
        const string op = "SequencesToFrames";
        RequireRank(op, "x", x, 3, "(B * H * W, F, C)");
        if (height < 1 || width < 1 || x.Shape[0] % (height * width) != 0)
        {
            throw Fail(op, $"{x.Shape[0]} sequences of x {x.Shape} are not a whole number of {height}x{width} images.");
        }

        var batch = x.Shape[0] / (height * width);
        return new TensorShape(batch * x.Shape[1], height, width, x.Shape[2]);
    }

    public static TensorShape NchwToNhwc(Tensor x)
    {
        RequireRank("NchwToNhwc", "x", x, 4, "(N, C, H, W)");
        return new TensorShape(x.Shape[0], x.Shape[2], x.Shape[3], x.Shape[1]);
    }

    public static TensorShape NhwcToNchw(Tensor x)
    {
        RequireRank("NhwcToNchw", "x", x, 4, "(N, H, W, C)");
        return new TensorShape(x.Shape[0], x.Shape[3], x.Shape[1], x.Shape[2]);
    }

    public static TensorShape NcfhwToNhwc(Tensor x)
    {
        RequireRank("NcfhwToNhwc", "x", x, 5, "(B, C, F, H, W)");
        return new TensorShape(x.Shape[0] * x.Shape[2], x.Shape[3], x.Shape[4], x.Shape[1]);
    }

    public static TensorShape NhwcToNcfhw(Tensor x, int frames)
    {
        const string op = "NhwcToNcfhw";
        RequireRank(op, "x", x, 4, "(B * F, H, W, C)");
        RequireFrames(op, x, frames);
        return new TensorShape(x.Shape[0] / frames, x.Shape[3], frames, x.Shape[1], x.Shape[2]);
    }

    /// <summary>Checks a DDIM step's tensors; returns how many copies of the new latents <paramref name="nextInput"/> holds (0 without one).</summary>
    public static int DdimStep(Tensor modelOutput, Tensor latents, DdimStepSettings step, Tensor? noise, Tensor? nextInput, DType activation)
    {
        const string op = "DdimStep";
        ArgumentNullException.ThrowIfNull(modelOutput);
        ArgumentNullException.ThrowIfNull(latents);
        if (latents.DType != DType.F32 || latents.Shape.Rank < 1)
        {
            throw Fail(op, $"latents must be F32 of rank 1 or more (the scheduler's precision), got {latents.DType} {latents.Shape}.");
        }

        RequireTyped(op, "modelOutput", modelOutput, activation, Repeated(latents.Shape, step.Guidance is null ? 1 : 2));
        if (noise is not null)
        {
            RequireTyped(op, "noise", noise, DType.F32, latents.Shape);
        }

        if (nextInput is null)
        {
            return 0;
        }

        var copies = latents.Shape[0] == 0 || nextInput.Shape.Rank != latents.Shape.Rank ? 1 : Math.Max(nextInput.Shape[0] / latents.Shape[0], 1);
        RequireTyped(op, "nextInput", nextInput, activation, Repeated(latents.Shape, copies));
        return copies;
    }

    /// <summary><paramref name="shape"/> with axis 0 multiplied by <paramref name="times"/>.</summary>
    public static TensorShape Repeated(TensorShape shape, int times)
    {
        var dims = shape.Dims.ToArray();
        dims[0] *= times;
        return new TensorShape(dims);
    }

    private static void RequireTyped(string op, string name, Tensor t, DType dtype, TensorShape shape)
    {
        if (t.DType != dtype || t.Shape != shape)
        {
            throw Fail(op, $"{name} must be {dtype} {shape}, got {t.DType} {t.Shape}.");
        }
    }

    public static void RequireRank(string op, string name, Tensor t, int rank, string layout)
    {
        ArgumentNullException.ThrowIfNull(t, name);
        if (t.Shape.Rank != rank)
        {
            throw Fail(op, $"{name} must be {layout}, got {t.Shape}.");
        }
    }

    public static void RequireFrames(string op, Tensor x, int frames)
    {
        if (frames < 1 || x.Shape[0] % frames != 0)
        {
            throw Fail(op, $"{x.Shape[0]} images of x {x.Shape} are not a whole number of videos of {frames} frames.");
        }
    }

    public static ArgumentException Fail(string op, string message) => new($"{op}: {message}");

    private static void RequireVector(string op, string name, Tensor? t, int length)
    {
        if (t is not null && (t.Shape.Rank != 1 || t.Shape[0] != length))
        {
            throw Fail(op, $"{name} must be [{length}], got {t.Shape}.");
        }
    }

    private static void RequireShape(string op, string name, Tensor? t, TensorShape expected)
    {
        if (t is not null && t.Shape != expected)
        {
            throw Fail(op, $"{name} must be {expected}, got {t.Shape}.");
        }
    }
}
