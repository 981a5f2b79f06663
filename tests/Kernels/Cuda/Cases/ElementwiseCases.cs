using CudaI2V.Kernels.Cuda;
using CudaI2V.Runtime.Tensors;
using static CudaI2V.Tests.Kernels.Cuda.Cases.KernelCases;

namespace CudaI2V.Tests.Kernels.Cuda.Cases;

/// <summary>
/// The activations (Silu, Gelu, QuickGelu, Geglu; Activations.cu) over both tails of each curve, and the adds (Add,
/// a scaled add, AddBroadcastRows; Add.cu), in every storage dtype, in place and with capped grids.
/// </summary>
internal static class ElementwiseCases
{
    public static IReadOnlyDictionary<string, KernelCase> Activations { get; } = BuildActivations();

    public static IReadOnlyDictionary<string, KernelCase> Adds { get; } = BuildAdds();

    private static Dictionary<string, KernelCase> BuildActivations()
    {
        var cases = new Dictionary<string, KernelCase>();
        foreach (var dtype in StorageTypes)
        {
            var d = Short(dtype);
            foreach (var activation in Enum.GetValues<Activation>())
            {
                cases[$"{activation} {d} [-8, 8) over 3 x 1001"] = new ActivationCase(activation, dtype, [3, 1001]); // both tails of each curve
            }

            cases[$"Geglu {d} (2, 7, 10)"] = new GegluCase(dtype, [2, 7, 10]);
            cases[$"Geglu {d} 77 rows of 66"] = new GegluCase(dtype, [77, 66]);
            cases[$"Geglu {d} 3 rows of 2"] = new GegluCase(dtype, [3, 2]);
        }

        cases["Silu f16 in place, a capped grid covers 100,003 elements"] = new ActivationCase(Activation.Silu, DType.F16, [100_003], Seed: 62, Scale: 4f, MaxBlocks: 5, InPlace: true);
        return cases;
    }

    private static Dictionary<string, KernelCase> BuildAdds()
    {
        var cases = new Dictionary<string, KernelCase>();
        foreach (var dtype in StorageTypes)
        {
            var d = Short(dtype);
            cases[$"Add {d} (3, 7, 9, 5)"] = new AddCase(dtype, [3, 7, 9, 5]);
            cases[$"Add {d} scaled by -0.375"] = new AddCase(dtype, [3, 7, 9, 5], Scale: -0.375f);
            cases[$"AddBroadcastRows {d} (3, 7, 9, 5) + rows (3, 5)"] = new AddRowsCase(dtype, [3, 7, 9, 5]);
            cases[$"AddBroadcastRows {d} (N, C) + rows: one position"] = new AddRowsCase(dtype, [3, 5], Seed: 67);
        }

        cases["Add bf16 in place: a residual update"] = new AddCase(DType.BF16, [1000, 33], Seed: 68, InPlace: true);
        return cases;
    }
}

/// <summary>A pointwise activation of x uniform in [-scale, scale), optionally in place with a capped grid.</summary>
internal sealed record ActivationCase(
    Activation Activation, DType DType, int[] Dims, ulong Seed = 61, float Scale = 8f, int MaxBlocks = ElementwiseGrid.DefaultMaxBlocks, bool InPlace = false)
    : KernelCase
{
    public override void Run(IOpTestDevice device)
    {
        var x = Input(DType, Seed, Scale, 0f, Dims);
        var deviceX = device.Upload(x, DType);
        var y = InPlace ? deviceX : device.Poisoned(DType, Dims);

        device.Launch(ActivationsKernel.Plan(Activation, deviceX, y, MaxBlocks));

        var expected = Activation switch
        {
            Activation.Silu => Cpu.Silu(x),
            Activation.Gelu => Cpu.Gelu(x),
            _ => Cpu.QuickGelu(x),
        };
        For(DType).AssertClose(expected, device.Floats(y), $"{Activation} {DType} {x.Shape}");
    }
}

/// <summary>GEGLU of x (..., 2D) uniform in [-4, 4).</summary>
internal sealed record GegluCase(DType DType, int[] Dims, ulong Seed = 63) : KernelCase
{
    public override void Run(IOpTestDevice device)
    {
        var x = Input(DType, Seed, 4f, 0f, Dims);
        var outDims = (int[])Dims.Clone();
        outDims[^1] /= 2;
        var y = device.Poisoned(DType, outDims);

        device.Launch(ActivationsKernel.PlanGeglu(device.Upload(x, DType), y));

        For(DType).AssertClose(Cpu.Geglu(x), device.Floats(y), $"GEGLU {DType} {x.Shape}");
    }
}

/// <summary><c>a + scale * b</c> for a and b from two consecutive seeds, into a new output or into a itself.</summary>
internal sealed record AddCase(DType DType, int[] Dims, float Scale = 1f, ulong Seed = 64, bool InPlace = false) : KernelCase
{
    public override void Run(IOpTestDevice device)
    {
        var (a, b) = (Input(DType, Seed, 1f, 0f, Dims), Input(DType, Seed + 1, 1f, 0f, Dims));
        var deviceA = device.Upload(a, DType);
        var output = InPlace ? deviceA : device.Poisoned(DType, Dims);

        device.Launch(AddKernel.Plan(deviceA, device.Upload(b, DType), output, Scale));

        var (av, bv) = (a.ToFloat32Array(), b.ToFloat32Array());
        var expected = Scale == 1f ? Array.ConvertAll(Cpu.Add(a, b).ToFloat32Array(), v => (double)v) : [.. av.Select((v, i) => v + (Scale * (double)bv[i]))];
        For(DType).AssertClose(expected, device.Floats(output), $"a + {Scale} b, {DType} {a.Shape}{(InPlace ? " in place" : "")}");
    }
}

/// <summary><c>x[n, ..., c] + rows[n, c]</c> for x of <paramref name="Dims"/> and rows (N, C) from seed 66.</summary>
internal sealed record AddRowsCase(DType DType, int[] Dims, ulong Seed = 64) : KernelCase
{
    public override void Run(IOpTestDevice device)
    {
        var x = Input(DType, Seed, 1f, 0f, Dims);
        var rows = Input(DType, 66, 1f, 0f, Dims[0], Dims[^1]);
        var output = device.Poisoned(DType, Dims);

        device.Launch(AddKernel.PlanRows(device.Upload(x, DType), device.Upload(rows, DType), output));

        For(DType).AssertClose(Cpu.AddBroadcastRows(x, rows), device.Floats(output), $"x + rows, {DType} {x.Shape}");
    }
}
