using System.Buffers.Binary;
using CudaI2V.Kernels.Cuda;
using CudaI2V.Runtime.Blas;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda;

/// <summary>
/// Where the GEMM-based op tests run: the real GPU (<c>GpuOpDevice</c>) or <see cref="EmulatedDevice"/>, so the same
/// cases check the op plans on this machine and the kernels and cuBLAS calls on a GPU.
/// </summary>
internal interface IOpTestDevice : IDisposable
{
    /// <summary>A new device tensor (256-byte aligned); contents unspecified.</summary>
    Tensor Empty(DType dtype, params int[] dims);

    /// <summary>A device copy of a host tensor (same dtype).</summary>
    Tensor Upload(Tensor host);

    /// <summary>
    /// A device copy of a host tensor placed <paramref name="byteOffset"/> bytes into a fresh allocation (a view that
    /// is not 256-byte aligned when the offset is not).
    /// </summary>
    Tensor UploadAt(Tensor host, long byteOffset);

    /// <summary>The values of a contiguous device tensor as a host tensor of its dtype.</summary>
    Tensor Download(Tensor device);

    /// <summary>Sets every byte of a contiguous device tensor to 0xFF: NaN in fp32, fp16 and bf16.</summary>
    void Poison(Tensor device);

    /// <summary>Runs an op's steps (or the op itself) on this device.</summary>
    void Run(Action<CudaOpContext?> op, IEnumerable<OpStep> steps);
}

/// <summary>
/// A host stand-in for the GPU that executes op steps as their kernels and cuBLAS calls specify: device tensors are
/// fake address ranges backed by host arrays (with unmapped gaps between allocations, so a step that reaches outside
/// its tensors throws), launches are executed by C# mirrors of Im2col.cu, GemmEpilogue.cu and Softmax.cu (element type
/// and variant taken from the entry name, as the GPU would), GEMMs from the <see cref="GemmProblem"/> a step hands
/// cuBLAS (leading dimensions, batch strides, transposes) with fp64 accumulation and one rounding to C's dtype.
/// It checks what the plans ask for, not the CUDA code itself: that is what the GPU run of the same cases is for.
/// </summary>
internal sealed class EmulatedDevice : IOpTestDevice
{
    private const ulong Base = 0x7100_0000_0000;
    private readonly List<(ulong Begin, byte[] Bytes)> _regions = [];
    private ulong _next = Base;

    /// <summary>The steps executed, in order.</summary>
    public List<OpStep> Executed { get; } = [];

    public Tensor Empty(DType dtype, params int[] dims)
    {
        var shape = new TensorShape(dims);
        var bytes = Math.Max(shape.ElementCount * dtype.SizeOf(), 1);
        var begin = _next;
        _regions.Add((begin, new byte[bytes]));
        _next += (((ulong)bytes + 255) / 256 * 256) + 4096; // an unmapped gap after each allocation
        return Tensor.View(new DeviceStorage(begin, bytes, () => true, "emulated"), 0, dtype, shape);
    }

    public Tensor Upload(Tensor host)
    {
        var device = Empty(host.DType, [.. host.Shape.Dims]);
        host.Contiguous().AsBytes().CopyTo(At(device.DeviceAddress(), device.ByteLength));
        return device;
    }

    public Tensor UploadAt(Tensor host, long byteOffset)
    {
        var buffer = Empty(DType.U8, (int)(host.ByteLength + byteOffset));
        var device = Tensor.View(buffer.Storage, byteOffset, host.DType, host.Shape);
        host.Contiguous().AsBytes().CopyTo(At(device.DeviceAddress(), device.ByteLength));
        return device;
    }

    public Tensor Download(Tensor device)
    {
        var host = Tensor.Zeros(device.DType, device.Shape);
        At(device.DeviceAddress(), device.ByteLength).CopyTo(host.AsBytes());
        return host;
    }

    public void Poison(Tensor device) => At(device.DeviceAddress(), device.ByteLength).Fill(0xFF);

    public void Run(Action<CudaOpContext?> op, IEnumerable<OpStep> steps) => Execute(steps);

    public void Execute(IEnumerable<OpStep> steps)
    {
        foreach (var step in steps)
        {
            switch (step)
            {
                case LaunchStep<Im2colParams> s:
                    Im2col(s.Launch.Entry, s.Launch.Params);
                    break;
                case LaunchStep<GemmEpilogueParams> s:
                    Epilogue(s.Launch.Entry, s.Launch.Params);
                    break;
                case LaunchStep<SoftmaxParams> s:
                    Softmax(s.Launch.Entry, s.Launch.Params);
                    break;
                case GemmStep g:
                    Gemm(g);
                    break;
                case CopyStep c:
                    Assert.Equal(c.Source.ByteLength, c.Destination.ByteLength);
                    At(c.Source.DeviceAddress(), c.Source.ByteLength).CopyTo(At(c.Destination.DeviceAddress(), c.Destination.ByteLength));
                    break;
                default:
                    throw new NotSupportedException($"The emulator cannot run {step}.");
            }

            Executed.Add(step);
        }
    }

    public void Dispose()
    {
    }

    private static DType SuffixType(string entry) => entry[(entry.LastIndexOf('_') + 1)..] switch
    {
        "f32" => DType.F32,
        "f16" => DType.F16,
        "bf16" => DType.BF16,
        var s => throw new ArgumentException($"entry {entry} has no dtype suffix ({s})"),
    };

    private Span<byte> At(ulong address, long length)
    {
        foreach (var (begin, bytes) in _regions)
        {
            if (address >= begin && address < begin + (ulong)bytes.Length)
            {
                var offset = (int)(address - begin);
                if (offset + length > bytes.Length)
                {
                    throw new InvalidOperationException($"[0x{address:x}, +{length}) runs past its allocation of {bytes.Length} bytes at 0x{begin:x}.");
                }

                return bytes.AsSpan(offset, (int)length);
            }
        }

        throw new InvalidOperationException($"0x{address:x} is in no allocation.");
    }

    private float Read(DType dtype, ulong address, long index)
    {
        var size = dtype.SizeOf();
        var b = At(address + (ulong)(index * size), size);
        return dtype switch
        {
            DType.F32 => BinaryPrimitives.ReadSingleLittleEndian(b),
            DType.F16 => (float)BinaryPrimitives.ReadHalfLittleEndian(b),
            _ => BitConverter.UInt32BitsToSingle((uint)BinaryPrimitives.ReadUInt16LittleEndian(b) << 16),
        };
    }

    private void Write(DType dtype, ulong address, long index, float value)
    {
        var size = dtype.SizeOf();
        DTypeConversion.FromSingle([value], At(address + (ulong)(index * size), size), dtype);
    }

    private void Im2col(string entry, Im2colParams p)
    {
        var size = SuffixType(entry).SizeOf();
        // im2col_hwcv_ moves the hwc order's elements 16 bytes at a time: the same values, so the same mirror.
        var channelsFirst = entry.StartsWith("im2col_chw_", StringComparison.Ordinal);
        Assert.True(channelsFirst || entry.StartsWith("im2col_hwc_", StringComparison.Ordinal) || entry.StartsWith("im2col_hwcv_", StringComparison.Ordinal), entry);
        var patch = (long)p.KernelHeight * p.KernelWidth * p.Channels;
        for (long i = 0; i < p.Rows * patch; i++)
        {
            var (r, k) = (i / patch, (int)(i % patch));
            var m = p.RowBegin + r;
            var ox = (int)(m % p.OutWidth);
            var oy = (int)(m / p.OutWidth % p.OutHeight);
            var n = m / p.OutWidth / p.OutHeight;
            int ci, ky, kx;
            if (channelsFirst)
            {
                (kx, ky, ci) = (k % p.KernelWidth, k / p.KernelWidth % p.KernelHeight, k / (p.KernelWidth * p.KernelHeight));
            }
            else
            {
                (ci, kx, ky) = (k % p.Channels, k / p.Channels % p.KernelWidth, k / p.Channels / p.KernelWidth);
            }

            var (iy, ix) = ((oy * p.Stride) - p.PadTop + ky, (ox * p.Stride) - p.PadLeft + kx);
            var target = At(p.Destination + (ulong)(i * size), size);
            if (iy >= 0 && iy < p.Height && ix >= 0 && ix < p.Width)
            {
                var source = (((((n * p.Height) + iy) * p.Width) + ix) * p.Channels) + ci;
                At(p.Source + (ulong)(source * size), size).CopyTo(target);
            }
            else
            {
                target.Clear();
            }
        }
    }

    private void Epilogue(string entry, GemmEpilogueParams p)
    {
        var dtype = SuffixType(entry);
        for (long i = 0; i < p.Rows * p.Cols; i++)
        {
            var (r, c) = (i / p.Cols, i % p.Cols);
            var y = Read(DType.F32, p.Accumulator, i);
            if (p.Bias != 0)
            {
                y += Read(dtype, p.Bias, c);
            }

            if (p.RowAdd != 0)
            {
                y += Read(dtype, p.RowAdd, ((p.RowBegin + r) / p.GroupRows * p.Cols) + c);
            }

            if (p.Residual != 0)
            {
                y += Read(dtype, p.Residual, i);
            }

            Write(dtype, p.Destination, i, y);
        }
    }

    private void Softmax(string entry, SoftmaxParams p)
    {
        var dtype = SuffixType(entry);
        for (long row = 0; row < p.Rows; row++)
        {
            var x = new float[p.Cols];
            for (var j = 0; j < p.Cols; j++)
            {
                x[j] = Read(DType.F32, p.Scores, (row * p.Cols) + j) * p.Scale;
            }

            var max = x.Max();
            var sum = x.Sum(v => MathF.Exp(v - max));
            var inverse = 1f / sum;
            for (var j = 0; j < p.Cols; j++)
            {
                Write(dtype, p.Probabilities, (row * p.Cols) + j, MathF.Exp(x[j] - max) * inverse);
            }
        }
    }

    private void Gemm(GemmStep step)
    {
        var p = step.Problem;
        Assert.False(p.TransposeA);
        Assert.True(step.Engine == GemmEngine.CublasLt || step.Bias is null, "cuBLAS steps have no bias");
        var (a, b, c) = (step.A.DeviceAddress(), step.B.DeviceAddress(), step.C.DeviceAddress());
        var bias = step.Bias?.DeviceAddress() ?? 0;
        for (var batch = 0; batch < p.Batch; batch++)
        {
            for (var i = 0; i < p.M; i++)
            {
                for (var j = 0; j < p.N; j++)
                {
                    var sum = 0.0;
                    for (var k = 0; k < p.K; k++)
                    {
                        var x = Read(p.A.DType, a, (batch * p.A.BatchStride) + (i * p.A.LeadingDimension) + k);
                        var y = Read(p.B.DType, b, (batch * p.B.BatchStride) + (p.TransposeB ? (j * p.B.LeadingDimension) + k : (k * p.B.LeadingDimension) + j));
                        sum += (double)x * y;
                    }

                    var index = (batch * p.C.BatchStride) + (i * p.C.LeadingDimension) + j;
                    var result = (float)sum;
                    if (step.Beta != 0)
                    {
                        result += step.Beta * Read(p.C.DType, c, index);
                    }

                    if (bias != 0)
                    {
                        result += Read(p.C.DType, bias, j);
                    }

                    Write(p.C.DType, c, index, result);
                }
            }
        }
    }
}
