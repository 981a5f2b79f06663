using CudaI2V.Kernels.Cuda;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;
using static CudaI2V.Tests.Kernels.Cuda.Cases.KernelCases;

namespace CudaI2V.Tests.Kernels.Cuda.Cases;

/// <summary>
/// Fill.cu and Cast.cu against the host conversions, bit for bit: every element and nothing beyond, a capped grid,
/// and all six conversions (and the same-dtype copy) over values that exercise rounding: ties, fp16 overflow and
/// subnormals, infinities, NaN, signed zero.
/// </summary>
internal static class CastFillCases
{
    /// <summary>Values that exercise rounding: ties, fp16 overflow and subnormals, infinities, NaN, signed zero.</summary>
    public static IReadOnlyList<float> Specials { get; } =
    [
        0f, -0f, 1f, -1.5f, 1f / 3, 65504f, 65520f, 1e5f, 6e-8f, 1e-9f, 3.0e-5f, float.PositiveInfinity, float.NegativeInfinity,
        float.NaN, 1.00390625f, 1.01171875f, 3.4e38f, -2.5e-39f, BitConverter.UInt32BitsToSingle(0x3F808000), BitConverter.UInt32BitsToSingle(0x3F818000),
    ];

    public static IReadOnlyDictionary<string, KernelCase> All { get; } = Build();

    private static Dictionary<string, KernelCase> Build()
    {
        var cases = new Dictionary<string, KernelCase>();
        foreach (var dtype in StorageTypes)
        {
            cases[$"Fill {Short(dtype)} 1,000,003 elements and nothing beyond"] = new FillCase(dtype, 1_000_003, 1f / 3);
        }

        cases["Fill f16 a capped grid covers 100,000 elements"] = new FillCase(DType.F16, 100_000, 7f, MaxBlocks: 3);
        foreach (var (from, to) in new[] { (DType.F32, DType.F16), (DType.F32, DType.BF16), (DType.F16, DType.F32), (DType.BF16, DType.F32), (DType.F16, DType.BF16), (DType.BF16, DType.F16), (DType.F16, DType.F16) })
        {
            cases[$"Cast {Short(from)} to {Short(to)}"] = new CastCase(from, to);
        }

        return cases;
    }
}

/// <summary>Fills the first <paramref name="Count"/> elements of a buffer 64 elements longer whose bytes are all 0xAB.</summary>
internal sealed record FillCase(DType DType, int Count, float Value, int MaxBlocks = ElementwiseGrid.DefaultMaxBlocks) : KernelCase
{
    public override void Run(IOpTestDevice device)
    {
        var buffer = device.Empty(DType, Count + 64);
        device.Launch(new DeviceMemset(buffer.DeviceAddress(), 0xAB, buffer.ByteLength));

        device.Launch(FillKernel.Plan(buffer.Slice(0, 0, Count), Value, MaxBlocks));

        var bytes = device.Download(buffer).AsBytes();
        var expected = Tensor.FromSpan<float>([Value], new TensorShape(1)).To(DType).AsBytes().ToArray();
        var size = DType.SizeOf();
        for (var i = 0; i < Count; i++)
        {
            if (!bytes.Slice(i * size, size).SequenceEqual(expected))
            {
                Assert.Fail($"element {i} is not {Value} in {DType}");
            }
        }

        Assert.All(bytes[(Count * size)..].ToArray(), b => Assert.Equal(0xAB, b));
    }
}

/// <summary>Converts the special values and 10,000 random ones (large and tiny) from one dtype to another, as the host does.</summary>
internal sealed record CastCase(DType From, DType To) : KernelCase
{
    public override void Run(IOpTestDevice device)
    {
        var values = CastFillCases.Specials.Concat(new TestData(11).Floats(5000, scale: 70000f)).Concat(new TestData(12).Floats(5000, scale: 1e-4f)).ToArray();
        var host = Tensor.FromSpan<float>(values, new TensorShape(values.Length)).To(From);
        var destination = device.Poisoned(To, values.Length);

        device.Launch(CastKernel.Plan(device.Upload(host), destination));

        var (source, e, a) = (host.ToFloat32Array(), host.To(To).ToFloat32Array(), device.Download(destination).ToFloat32Array());
        for (var i = 0; i < values.Length; i++)
        {
            var same = float.IsNaN(e[i]) ? float.IsNaN(a[i]) : BitConverter.SingleToUInt32Bits(e[i]) == BitConverter.SingleToUInt32Bits(a[i]);
            if (!same)
            {
                Assert.Fail($"{From} -> {To} of {source[i]:R}: device {a[i]:R}, host {e[i]:R} (index {i})");
            }
        }
    }
}
