using CudaI2V.Runtime.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace CudaI2V.Kernels.Cpu;

public sealed partial class CpuOps
{
    // Elements per task of an elementwise op.
    private const int ChunkSize = 1 << 16;

    private const double InverseSqrt2 = 0.70710678118654752440;

    private const double QuickGeluFactor = 1.702;

    /// <inheritdoc/>
    /// <remarks>Evaluated in double as x / (1 + exp(-x)) and rounded once.</remarks>
    public Tensor Silu(Tensor x) => Map(nameof(Silu), x, SiluOf);

    /// <inheritdoc/>
    /// <remarks>Evaluated in double with <see cref="Erf"/> and rounded once.</remarks>
    public Tensor Gelu(Tensor x) => Map(nameof(Gelu), x, GeluOf);

    /// <inheritdoc/>
    /// <remarks>Evaluated in double as x / (1 + exp(-1.702 x)) and rounded once.</remarks>
    public Tensor QuickGelu(Tensor x) => Map(nameof(QuickGelu), x, static v => v / (1.0 + Math.Exp(-QuickGeluFactor * v)));

    /// <inheritdoc/>
    /// <remarks>As PyTorch does, Gelu(gate) is rounded to fp32 before the fp32 product with the value.</remarks>
    public Tensor Geglu(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        Require(nameof(Geglu), nameof(x), x);
        var outShape = OpShapes.Geglu(x);
        var d = outShape[^1];
        var rows = d == 0 ? 0 : (int)(outShape.ElementCount / d);
        var y = NewTensor(nameof(Geglu), outShape);

        Parallel.For(0, rows, _parallel, row =>
        {
            var input = x.AsSpan<float>().Slice(row * 2 * d, 2 * d);
            var value = input[..d];
            var gate = input[d..];
            var output = y.AsSpan<float>().Slice(row * d, d);
            for (var i = 0; i < d; i++)
            {
                output[i] = value[i] * (float)GeluOf(gate[i]);
            }
        });

        return y;
    }

    /// <inheritdoc/>
    public Tensor Add(Tensor a, Tensor b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        Require(nameof(Add), nameof(a), a);
        Require(nameof(Add), nameof(b), b);
        OpShapes.SameShape(nameof(Add), a, b);
        var y = NewTensor(nameof(Add), a.Shape);
        TensorPrimitives.Add(a.AsSpan<float>(), b.AsSpan<float>(), y.AsSpan<float>());
        return y;
    }

    /// <summary><c>y += b</c> with <see cref="Add"/>'s fp32 additions, for the fused epilogues (shapes checked by the op).</summary>
    private static void AddInPlace(Tensor y, Tensor b)
    {
        var ys = y.AsSpan<float>();
        TensorPrimitives.Add(ys, b.AsSpan<float>(), ys);
    }

    /// <inheritdoc/>
    public Tensor AddBroadcastRows(Tensor x, Tensor rows)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(rows);
        Require(nameof(AddBroadcastRows), nameof(x), x);
        Require(nameof(AddBroadcastRows), nameof(rows), rows);
        OpShapes.AddBroadcastRows(x, rows);
        var y = NewTensor(nameof(AddBroadcastRows), x.Shape);
        AddRows(x, rows, y);
        return y;
    }

    /// <summary><c>y[n, ..., c] += rows[n, c]</c> with <see cref="AddBroadcastRows"/>'s fp32 additions (a convolution's time embedding).</summary>
    private static void AddRowsInPlace(Tensor y, Tensor rows) => AddRows(y, rows, y);

    private static void AddRows(Tensor x, Tensor rows, Tensor y)
    {
        var c = x.Shape[^1];
        var positions = Product(x.Shape, 1, x.Shape.Rank - 1);
        var xs = x.AsSpan<float>();
        var ys = y.AsSpan<float>();
        var rs = rows.AsSpan<float>();
        for (var n = 0; n < x.Shape[0]; n++)
        {
            var row = rs.Slice(n * c, c);
            for (var p = 0; p < positions; p++)
            {
                var offset = ((n * positions) + p) * c;
                TensorPrimitives.Add(xs.Slice(offset, c), row, ys.Slice(offset, c));
            }
        }
    }

    /// <summary>SiLU in double: x / (1 + exp(-x)).</summary>
    private static double SiluOf(double v) => v / (1.0 + Math.Exp(-v));

    /// <summary>The exact GELU in double: x * 0.5 * (1 + erf(x / sqrt(2))).</summary>
    private static double GeluOf(double v) => v * 0.5 * (1.0 + Erf.Evaluate(v * InverseSqrt2));

    /// <summary>Applies <paramref name="f"/> (evaluated in double) to every element, in chunks spread over cores.</summary>
    private Tensor Map(string op, Tensor x, Func<double, double> f)
    {
        ArgumentNullException.ThrowIfNull(x);
        Require(op, nameof(x), x);
        var y = NewTensor(op, x.Shape);
        Apply(x, y, f);
        return y;
    }

    /// <summary><c>y[i] = f(x[i])</c> in double, rounded once; x and y may be the same tensor.</summary>
    private void Apply(Tensor x, Tensor y, Func<double, double> f)
    {
        var count = (int)x.ElementCount;
        Parallel.For(0, (count + ChunkSize - 1) / ChunkSize, _parallel, chunk =>
        {
            var start = chunk * ChunkSize;
            var length = Math.Min(ChunkSize, count - start);
            var xs = x.AsSpan<float>().Slice(start, length);
            var ys = y.AsSpan<float>().Slice(start, length);
            for (var i = 0; i < length; i++)
            {
                ys[i] = (float)f(xs[i]);
            }
        });
    }
}
