using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Engine;

/// <summary>One tile of a frame's latents: its first row and column and its size, in latent pixels.</summary>
/// <param name="Row">Index of the tile's row of tiles.</param>
/// <param name="Column">Index of the tile's column of tiles.</param>
/// <param name="Y">First latent row.</param>
/// <param name="X">First latent column.</param>
/// <param name="Height">Latent rows.</param>
/// <param name="Width">Latent columns.</param>
public sealed record VaeTile(int Row, int Column, int Y, int X, int Height, int Width);

/// <summary>
/// The VAE decode of a large frame in overlapping square tiles, as diffusers' <c>AutoencoderKL.tiled_decode</c> does
/// (overlap factor 0.25): tiles of <see cref="Tile"/> latent pixels start every <c>int(tile * 0.75)</c> pixels down and
/// across (the last ones in a row or column are cut short at the frame's edge), each tile is decoded on its own, each
/// decoded tile is blended linearly over <c>int(tile * scale * 0.25)</c> image pixels with the tile above it and the
/// tile to its left (in diffusers' order, each blended tile feeding the next blend), cut to
/// <c>tile * scale - blend</c> pixels, and the pieces are joined. The decoder's group norms and mid-block attention
/// then see a tile, not the whole frame, so the result is close to the untiled decode but not equal to it.
/// </summary>
public sealed class VaeTiles
{
    /// <summary>diffusers' <c>tile_overlap_factor</c>.</summary>
    public const double OverlapFactor = 0.25;

    /// <summary>
    /// Tiles the (<paramref name="height"/>, <paramref name="width"/>) latents of a VAE of scale <paramref name="scale"/>
    /// in tiles of <paramref name="tile"/>, a multiple of 4 (diffusers: the config's sample_size / scale, 96 for I2VGen-XL).
    /// </summary>
    public VaeTiles(int height, int width, int tile, int scale)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(tile, 4);
        if (tile % 4 != 0)
        {
            // With a quarter of overlap, tiles that are a multiple of 4 keep exactly the pixels between two tiles' starts.
            throw new ArgumentOutOfRangeException(nameof(tile), tile, "A decode tile must be a multiple of 4 latent pixels.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(scale, 1);
        (Height, Width, Tile, Scale) = (height, width, tile, scale);
        Stride = (int)(tile * (1 - OverlapFactor));
        BlendExtent = (int)(tile * scale * OverlapFactor);
        RowLimit = (tile * scale) - BlendExtent;
        var rows = Starts(height);
        var columns = Starts(width);
        Tiles = [.. rows.SelectMany((y, i) => columns.Select((x, j) => new VaeTile(i, j, y, x, Math.Min(tile, height - y), Math.Min(tile, width - x))))];
        RowCount = rows.Count;
        ColumnCount = columns.Count;
    }

    /// <summary>The tile side in latent pixels.</summary>
    public int Tile { get; }

    /// <summary>Latent rows of the frame.</summary>
    public int Height { get; }

    /// <summary>Latent columns of the frame.</summary>
    public int Width { get; }

    /// <summary>Image pixels per latent pixel.</summary>
    public int Scale { get; }

    /// <summary>Latent pixels between the starts of neighbouring tiles (diffusers' <c>overlap_size</c>).</summary>
    public int Stride { get; }

    /// <summary>Image pixels blended between neighbouring tiles.</summary>
    public int BlendExtent { get; }

    /// <summary>Image pixels of each decoded tile kept, from its top-left corner.</summary>
    public int RowLimit { get; }

    /// <summary>Rows of tiles.</summary>
    public int RowCount { get; }

    /// <summary>Columns of tiles.</summary>
    public int ColumnCount { get; }

    /// <summary>Every tile, row by row.</summary>
    public IReadOnlyList<VaeTile> Tiles { get; }

    /// <summary>The distinct tile sizes (latent rows, columns), largest first: each needs a decode planned for it.</summary>
    public IReadOnlyList<(int Height, int Width)> Sizes => [.. Tiles.Select(t => (t.Height, t.Width)).Distinct().OrderByDescending(s => (long)s.Height * s.Width)];

    /// <summary>The latents of <paramref name="tile"/>: rows and columns of (n, h, w, c) host latents, contiguous.</summary>
    public static Tensor Cut(Tensor latents, VaeTile tile)
    {
        ArgumentNullException.ThrowIfNull(latents);
        ArgumentNullException.ThrowIfNull(tile);
        return latents.Slice(1, tile.Y, tile.Height).Slice(2, tile.X, tile.Width).Contiguous();
    }

    /// <summary>
    /// Blends decoded tiles (host F32 (n, tileH * scale, tileW * scale, c), in <see cref="Tiles"/>' order) into the
    /// frames (n, height * scale, width * scale, c), as diffusers does. The tiles are changed in place.
    /// </summary>
    public Tensor Blend(IReadOnlyList<Tensor> decoded)
    {
        ArgumentNullException.ThrowIfNull(decoded);
        if (decoded.Count != Tiles.Count)
        {
            throw new ArgumentException($"Expected {Tiles.Count} decoded tiles, got {decoded.Count}.", nameof(decoded));
        }

        var images = decoded.Select(d => d.DType == DType.F32 ? d.Contiguous() : d.To(DType.F32)).ToArray();
        int n = images[0].Shape[0], c = images[0].Shape[3];
        var output = Tensor.Zeros(DType.F32, new TensorShape(n, Height * Scale, Width * Scale, c));
        var target = output.AsSpan<float>();
        var outRow = (long)Width * Scale * c;
        var outImage = outRow * Height * Scale;
        for (var index = 0; index < Tiles.Count; index++)
        {
            var tile = Tiles[index];
            var image = images[index];
            if (tile.Row > 0)
            {
                BlendRows(images[index - ColumnCount], image);
            }

            if (tile.Column > 0)
            {
                BlendColumns(images[index - 1], image);
            }

            // Keep the top-left RowLimit x RowLimit pixels at the tile's place.
            int h = image.Shape[1], w = image.Shape[2], keepH = Math.Min(RowLimit, h), keepW = Math.Min(RowLimit, w);
            var source = image.AsSpan<float>();
            for (var b = 0; b < n; b++)
            {
                for (var y = 0; y < keepH; y++)
                {
                    var from = (((long)b * h) + y) * w * c;
                    var to = (b * outImage) + (((long)tile.Row * RowLimit) + y) * outRow + ((long)tile.Column * RowLimit * c);
                    source.Slice((int)from, keepW * c).CopyTo(target.Slice((int)to, keepW * c));
                }
            }
        }

        return output;
    }

    /// <summary>diffusers' blend_v: the first rows of <paramref name="b"/> fade in from the last rows of <paramref name="a"/>.</summary>
    private void BlendRows(Tensor a, Tensor b)
    {
        int n = b.Shape[0], ha = a.Shape[1], hb = b.Shape[1], w = b.Shape[2], c = b.Shape[3];
        var extent = Math.Min(Math.Min(ha, hb), BlendExtent);
        Span<float> sa = a.AsSpan<float>(), sb = b.AsSpan<float>();
        var rowLength = w * c;
        for (var i = 0; i < n; i++)
        {
            for (var y = 0; y < extent; y++)
            {
                float keep = (float)(1 - ((double)y / extent)), take = (float)((double)y / extent);
                var rowA = sa.Slice((((i * ha) + ha - extent + y) * rowLength), rowLength);
                var rowB = sb.Slice(((i * hb) + y) * rowLength, rowLength);
                for (var k = 0; k < rowLength; k++)
                {
                    rowB[k] = (rowA[k] * keep) + (rowB[k] * take);
                }
            }
        }
    }

    /// <summary>diffusers' blend_h: the first columns of <paramref name="b"/> fade in from the last columns of <paramref name="a"/>.</summary>
    private void BlendColumns(Tensor a, Tensor b)
    {
        int n = b.Shape[0], h = b.Shape[1], wa = a.Shape[2], wb = b.Shape[2], c = b.Shape[3];
        var extent = Math.Min(Math.Min(wa, wb), BlendExtent);
        Span<float> sa = a.AsSpan<float>(), sb = b.AsSpan<float>();
        for (var i = 0; i < n * h; i++)
        {
            for (var x = 0; x < extent; x++)
            {
                float keep = (float)(1 - ((double)x / extent)), take = (float)((double)x / extent);
                var pixelA = sa.Slice(((i * wa) + wa - extent + x) * c, c);
                var pixelB = sb.Slice(((i * wb) + x) * c, c);
                for (var k = 0; k < c; k++)
                {
                    pixelB[k] = (pixelA[k] * keep) + (pixelB[k] * take);
                }
            }
        }
    }

    private List<int> Starts(int length)
    {
        var starts = new List<int>();
        for (var start = 0; start < length; start += Stride)
        {
            starts.Add(start);
        }

        return starts;
    }
}
