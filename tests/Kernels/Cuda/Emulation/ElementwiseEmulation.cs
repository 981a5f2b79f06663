using CudaI2V.Kernels.Cpu;
using CudaI2V.Kernels.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda.Emulation;

/// <summary>
/// Host mirrors of the one-dimensional grid-stride kernels (Activations.cu, Add.cu, Cast.cu, Fill.cu, NonFinite.cu,
/// Resample.cu, DdimStep.cu, CopyStrided.cu): each reads its params struct as the kernel does, takes the element type
/// from the entry's name, and computes every element i in [0, count) with the kernel's index arithmetic and fp32
/// operations (a grid-stride loop visits each i once whatever the grid, so the grid is not needed).
/// </summary>
internal static class ElementwiseEmulation
{
    /// <summary>The element type an entry's name ends in (<c>_f32</c>, <c>_f16</c>, <c>_bf16</c>).</summary>
    public static DType SuffixType(string entry) => TypeOf(entry[(entry.LastIndexOf('_') + 1)..], entry);

    public static void Activations(EmulatedMemory memory, string entry, ActivationsParams p)
    {
        var dtype = SuffixType(entry);
        var (src, dst) = (memory.At(p.Source, dtype), memory.At(p.Destination, dtype));
        if (entry.StartsWith("activations_geglu_", StringComparison.Ordinal))
        {
            for (long i = 0; i < p.Count; i++)
            {
                var row = i / p.Width;
                var j = i - (row * p.Width);
                var input = row * 2 * p.Width;
                dst[i] = src[input + j] * Gelu(src[input + p.Width + j]);
            }

            return;
        }

        Func<float, float> f = entry[..entry.LastIndexOf('_')] switch
        {
            "activations_silu" => Silu,
            "activations_gelu" => Gelu,
            "activations_quickgelu" => x => x / (1f + MathF.Exp(-1.702f * x)),
            _ => throw new NotSupportedException(entry),
        };
        for (long i = 0; i < p.Count; i++)
        {
            dst[i] = f(src[i]);
        }
    }

    public static void Add(EmulatedMemory memory, string entry, AddParams p)
    {
        var dtype = SuffixType(entry);
        var (a, b, output) = (memory.At(p.A, dtype), memory.At(p.B, dtype), memory.At(p.Output, dtype));
        var rows = entry.StartsWith("add_rows_", StringComparison.Ordinal);
        for (long i = 0; i < p.Count; i++)
        {
            var bi = rows ? (i / p.RowElements * p.Channels) + (i % p.Channels) : i;
            output[i] = a[i] + (p.Scale * b[bi]);
        }
    }

    public static void Cast(EmulatedMemory memory, string entry, CastParams p)
    {
        var parts = entry.Split('_'); // cast_<from>_<to>
        var (src, dst) = (memory.At(p.Source, TypeOf(parts[1], entry)), memory.At(p.Destination, TypeOf(parts[2], entry)));
        for (long i = 0; i < p.Count; i++)
        {
            dst[i] = src[i];
        }
    }

    public static void Fill(EmulatedMemory memory, string entry, FillParams p)
    {
        var dst = memory.At(p.Destination, SuffixType(entry));
        for (long i = 0; i < p.Count; i++)
        {
            dst[i] = p.Value;
        }
    }

    public static void NonFinite(EmulatedMemory memory, string entry, NonFiniteParams p)
    {
        var dtype = SuffixType(entry);
        var src = memory.At(p.Source, dtype);
        var (mask, size) = dtype switch
        {
            DType.F32 => (0x7F800000u, 4),
            DType.F16 => (0x7C00u, 2),
            _ => (0x7F80u, 2),
        };
        long count = 0;
        for (long i = 0; i < p.Count; i++)
        {
            var raw = src.Raw(i);
            var bits = size == 4 ? BitConverter.ToUInt32(raw) : BitConverter.ToUInt16(raw);
            count += (bits & mask) == mask ? 1 : 0;
        }

        var counter = memory.At(p.Counter, DType.I64);
        counter.SetInt64(0, counter.Int64(0) + count);
    }

    public static void Resample(EmulatedMemory memory, string entry, ResampleParams p)
    {
        var dtype = SuffixType(entry);
        var (src, dst) = (memory.At(p.Source, dtype), memory.At(p.Destination, dtype));
        var pool = entry.StartsWith("resample_pool_", StringComparison.Ordinal);
        for (long i = 0; i < p.Count; i++)
        {
            var c = (int)(i % p.Channels);
            var rest = i / p.Channels;
            var ox = (int)(rest % p.OutWidth);
            rest /= p.OutWidth;
            var oy = (int)(rest % p.OutHeight);
            var n = rest / p.OutHeight;
            var (y0, x0) = ((int)((long)oy * p.InHeight / p.OutHeight), (int)((long)ox * p.InWidth / p.OutWidth));
            if (!pool)
            {
                src.Raw((((n * p.InHeight) + y0) * p.InWidth + x0) * p.Channels + c).CopyTo(dst.Raw(i));
                continue;
            }

            var y1 = (int)((((long)(oy + 1) * p.InHeight) + p.OutHeight - 1) / p.OutHeight);
            var x1 = (int)((((long)(ox + 1) * p.InWidth) + p.OutWidth - 1) / p.OutWidth);
            var sum = 0f;
            for (var iy = y0; iy < y1; iy++)
            {
                for (var ix = x0; ix < x1; ix++)
                {
                    sum += src[((((n * p.InHeight) + iy) * p.InWidth) + ix) * p.Channels + c];
                }
            }

            dst[i] = sum / ((y1 - y0) * (x1 - x0));
        }
    }

    /// <summary>DdimStep.cu: every operation a separately rounded fp32 operation in the kernel's order (C# float arithmetic never contracts).</summary>
    public static void DdimStep(EmulatedMemory memory, string entry, DdimStepParams p)
    {
        var dtype = SuffixType(entry);
        var output = memory.At(p.ModelOutput, dtype);
        var latents = memory.At(p.Latents, DType.F32);
        var (sa, sb) = (p.SqrtAlphaProdT, p.SqrtBetaProdT);
        for (long i = 0; i < p.Count; i++)
        {
            var m = output[i];
            if (p.Guided != 0)
            {
                m += p.Guidance * (output[p.Count + i] - m);
            }

            var x = latents[i];
            var (x0, eps) = p.Prediction switch
            {
                0 => ((x - (sb * m)) / sa, m),
                1 => ((sa * x) - (sb * m), (sa * m) + (sb * x)),
                _ => (m, (x - (sa * m)) / sb),
            };
            if (p.Clip != 0 && !float.IsNaN(x0))
            {
                x0 = MathF.Min(MathF.Max(x0, -p.ClipRange), p.ClipRange);
            }

            var next = (p.SqrtAlphaProdTPrev * x0) + (p.DirectionCoefficient * eps);
            if (p.Noise != 0)
            {
                next += p.StdDevT * memory.At(p.Noise, DType.F32)[i];
            }

            latents[i] = next;
            if (p.Copy != 0)
            {
                var copy = memory.At(p.Copy, dtype);
                for (var r = 0; r < p.Copies; r++)
                {
                    copy[(r * p.Count) + i] = next;
                }
            }
        }
    }

    /// <summary>CopyStrided.cu: the row-major linear index split into coordinates innermost first; elements move as raw bits.</summary>
    public static void CopyStrided(EmulatedMemory memory, string entry, CopyStridedParams p)
    {
        var dtype = SuffixType(entry);
        var (src, dst) = (memory.At(p.Source, dtype), memory.At(p.Destination, dtype));
        for (long i = 0; i < p.Count; i++)
        {
            var (rest, s, d) = (i, 0L, 0L);
            for (var k = p.Rank - 1; k >= 0; k--)
            {
                var coordinate = rest % p.Shape[k];
                rest /= p.Shape[k];
                s += coordinate * p.SourceStrides[k];
                d += coordinate * p.DestinationStrides[k];
            }

            src.Raw(s).CopyTo(dst.Raw(d));
        }
    }

    /// <summary>SiLU in fp32, as Common.cuh's <c>silu</c>.</summary>
    public static float Silu(float x) => x / (1f + MathF.Exp(-x));

    /// <summary>The exact GELU in fp32, as Common.cuh's <c>gelu_erf</c> (erff modelled by the correctly rounded erf).</summary>
    public static float Gelu(float x) => x * 0.5f * (1f + (float)Erf.Evaluate(x * 0.70710678118654752f));

    private static DType TypeOf(string suffix, string entry) => suffix switch
    {
        "f32" => DType.F32,
        "f16" => DType.F16,
        "bf16" => DType.BF16,
        _ => throw new ArgumentException($"entry {entry} has no dtype suffix ({suffix})"),
    };
}
