namespace CudaI2V.Kernels;

/// <summary>
/// Zero padding added around the spatial axes of an image before a 2-D convolution, in pixels per side.
/// The UNet uses symmetric padding (<see cref="All(int)"/>); the VAE encoder's downsampler pads only the right
/// and bottom edges (<c>new Padding2D(Top: 0, Bottom: 1, Left: 0, Right: 1)</c>).
/// </summary>
/// <param name="Top">Rows of zeros above the image.</param>
/// <param name="Bottom">Rows of zeros below the image.</param>
/// <param name="Left">Columns of zeros left of the image.</param>
/// <param name="Right">Columns of zeros right of the image.</param>
public readonly record struct Padding2D(int Top, int Bottom, int Left, int Right)
{
    /// <summary>No padding.</summary>
    public static Padding2D None => default;

    /// <summary>The same padding on all four sides (PyTorch's <c>padding=p</c>).</summary>
    public static Padding2D All(int pixels) => new(pixels, pixels, pixels, pixels);

    /// <inheritdoc/>
    public override string ToString() => $"(top {Top}, bottom {Bottom}, left {Left}, right {Right})";
}
