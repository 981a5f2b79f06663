using System.Collections;
using System.Text;

namespace CudaI2V.Runtime.Tensors;

/// <summary>
/// An immutable tensor shape: a list of non-negative dimensions, row-major (the last dimension varies fastest).
/// A 0-d shape (no dimensions) holds one element.
/// </summary>
public sealed class TensorShape : IEquatable<TensorShape>, IReadOnlyList<int>
{
    private readonly int[] _dims;

    /// <summary>Creates a shape from its dimensions (each must be 0 or more).</summary>
    public TensorShape(params ReadOnlySpan<int> dims)
    {
        long count = 1;
        foreach (var d in dims)
        {
            if (d < 0)
            {
                throw new ArgumentException($"A tensor dimension cannot be negative: {Format(dims)}.", nameof(dims));
            }

            count = checked(count * d);
        }

        _dims = dims.ToArray();
        ElementCount = count;
    }

    /// <summary>The 0-d (scalar) shape.</summary>
    public static TensorShape Scalar { get; } = new();

    /// <summary>Number of dimensions.</summary>
    public int Rank => _dims.Length;

    /// <summary>Number of dimensions (same as <see cref="Rank"/>).</summary>
    public int Count => _dims.Length;

    /// <summary>Product of the dimensions (1 for a scalar).</summary>
    public long ElementCount { get; }

    /// <summary>The dimension at <paramref name="axis"/>; a negative axis counts from the end.</summary>
    public int this[int axis] => _dims[NormalizeAxis(axis)];

    /// <summary>The dimensions as a read-only span.</summary>
    public ReadOnlySpan<int> Dims => _dims;

    /// <summary>Row-major strides in elements.</summary>
    public long[] ContiguousStrides()
    {
        var strides = new long[_dims.Length];
        long stride = 1;
        for (var i = _dims.Length - 1; i >= 0; i--)
        {
            strides[i] = stride;
            stride *= _dims[i];
        }

        return strides;
    }

    /// <summary>Maps a possibly negative axis to 0..Rank-1, or throws naming the shape.</summary>
    public int NormalizeAxis(int axis)
    {
        var a = axis < 0 ? axis + Rank : axis;
        if (a < 0 || a >= Rank)
        {
            throw new ArgumentOutOfRangeException(nameof(axis), axis, $"Axis {axis} is outside shape {this}.");
        }

        return a;
    }

    /// <summary>Formats dimensions as "[2, 4, 20]".</summary>
    public static string Format(ReadOnlySpan<int> dims)
    {
        var sb = new StringBuilder("[");
        for (var i = 0; i < dims.Length; i++)
        {
            if (i > 0)
            {
                sb.Append(", ");
            }

            sb.Append(dims[i]);
        }

        return sb.Append(']').ToString();
    }

    /// <inheritdoc/>
    public override string ToString() => Format(_dims);

    /// <inheritdoc/>
    public bool Equals(TensorShape? other) => other is not null && _dims.AsSpan().SequenceEqual(other._dims);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as TensorShape);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var d in _dims)
        {
            hash.Add(d);
        }

        return hash.ToHashCode();
    }

    /// <summary>True when both shapes have the same dimensions.</summary>
    public static bool operator ==(TensorShape? left, TensorShape? right) =>
        left is null ? right is null : left.Equals(right);

    /// <summary>True when the shapes differ.</summary>
    public static bool operator !=(TensorShape? left, TensorShape? right) => !(left == right);

    /// <inheritdoc/>
    public IEnumerator<int> GetEnumerator() => ((IEnumerable<int>)_dims).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _dims.GetEnumerator();
}
