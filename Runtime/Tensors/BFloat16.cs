using System.Globalization;

namespace CudaI2V.Runtime.Tensors;

/// <summary>
/// bfloat16: sign, 8 exponent bits and 7 mantissa bits, i.e. the upper half of a binary32. .NET has no such
/// type. Conversion from float rounds to nearest, ties to even (as PyTorch and CUDA's __float2bfloat16 do);
/// NaN stays NaN (a quiet NaN with the sign kept).
/// </summary>
public readonly struct BFloat16 : IEquatable<BFloat16>, IComparable<BFloat16>
{
    /// <summary>The 16 stored bits.</summary>
    public ushort Bits { get; }

    private BFloat16(ushort bits) => Bits = bits;

    /// <summary>Wraps raw bits without conversion.</summary>
    public static BFloat16 FromBits(ushort bits) => new(bits);

    /// <summary>Rounds a float to the nearest bfloat16 (ties to even).</summary>
    public static BFloat16 FromSingle(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return new BFloat16((ushort)((bits >> 16) | 0x0040));
        }

        // Adding 0x7FFF plus the lowest kept bit rounds to nearest with ties to even; overflow to
        // infinity happens naturally through the exponent carry.
        var roundingBias = 0x7FFFu + ((bits >> 16) & 1u);
        return new BFloat16((ushort)((bits + roundingBias) >> 16));
    }

    /// <summary>The exact float value of this bfloat16.</summary>
    public float ToSingle() => BitConverter.UInt32BitsToSingle((uint)Bits << 16);

    /// <summary>Converts a float (rounding to nearest even).</summary>
    public static explicit operator BFloat16(float value) => FromSingle(value);

    /// <summary>Widens exactly to float.</summary>
    public static implicit operator float(BFloat16 value) => value.ToSingle();

    /// <inheritdoc/>
    public bool Equals(BFloat16 other) => Bits == other.Bits;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is BFloat16 other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => Bits;

    /// <summary>Orders by value (NaN first, as <see cref="float.CompareTo(float)"/> does).</summary>
    public int CompareTo(BFloat16 other) => ToSingle().CompareTo(other.ToSingle());

    /// <inheritdoc/>
    public override string ToString() => ToSingle().ToString(CultureInfo.InvariantCulture);

    /// <summary>Bitwise equality.</summary>
    public static bool operator ==(BFloat16 left, BFloat16 right) => left.Equals(right);

    /// <summary>Bitwise inequality.</summary>
    public static bool operator !=(BFloat16 left, BFloat16 right) => !left.Equals(right);

    /// <summary>Value comparison.</summary>
    public static bool operator <(BFloat16 left, BFloat16 right) => left.ToSingle() < right.ToSingle();

    /// <summary>Value comparison.</summary>
    public static bool operator >(BFloat16 left, BFloat16 right) => left.ToSingle() > right.ToSingle();

    /// <summary>Value comparison.</summary>
    public static bool operator <=(BFloat16 left, BFloat16 right) => left.ToSingle() <= right.ToSingle();

    /// <summary>Value comparison.</summary>
    public static bool operator >=(BFloat16 left, BFloat16 right) => left.ToSingle() >= right.ToSingle();
}
