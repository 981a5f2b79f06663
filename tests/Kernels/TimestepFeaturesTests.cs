using CudaI2V.Kernels.Cpu;
using CudaI2V.Runtime.Tensors;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Kernels;

/// <summary>CpuOps.TimestepFeatures against docs/i2vgenxl-spec.md section 3.2.1 (diffusers' get_timestep_embedding in float32).</summary>
public sealed class TimestepFeaturesTests
{
    private readonly CpuOps _ops = new();

    [Fact]
    public void TimestepFeatures_I2VGenXL_FollowsTheFloat32Recipe()
    {
        float[] timesteps = [981, 16, 0];

        var y = _ops.TimestepFeatures(timesteps, 320, flipSinToCos: true, downscaleFreqShift: 0);

        Assert.Equal(new TensorShape(3, 320), y.Shape);
        var actual = y.ToFloat32Array();
        var scaledLog = (float)-9.210340371976184;
        for (var row = 0; row < 3; row++)
        {
            for (var i = 0; i < 160; i++)
            {
                // Spec: the float32 constant times the float32 index, divided by 160 in float32, exp in float32.
                var exponent = scaledLog * i / 160f;
                var arg = timesteps[row] * (float)Math.Exp(exponent);
                Assert.Equal((float)Math.Cos(arg), actual[(row * 320) + i]);
                Assert.Equal((float)Math.Sin(arg), actual[(row * 320) + 160 + i]);
            }
        }
    }

    [Fact]
    public void TimestepFeatures_CloseToExactMath()
    {
        // The float32 recipe rounds t * freq; at t = 981 that moves the argument by up to ~3e-5.
        var y = _ops.TimestepFeatures([981f, 16f], 320, flipSinToCos: true, downscaleFreqShift: 0).ToFloat32Array();

        var expected = new double[640];
        for (var row = 0; row < 2; row++)
        {
            var t = row == 0 ? 981.0 : 16.0;
            for (var i = 0; i < 160; i++)
            {
                var arg = t * Math.Exp(-Math.Log(10000) * i / 160);
                expected[(row * 320) + i] = Math.Cos(arg);
                expected[(row * 320) + 160 + i] = Math.Sin(arg);
            }
        }

        new Tolerance(1e-4, 0, 1e-9).AssertClose(expected, y, new TensorShape(2, 320), "timestep features");
    }

    [Fact]
    public void TimestepFeatures_AtZero_IsOnesThenZeros()
    {
        var y = _ops.TimestepFeatures([0f], 8, flipSinToCos: true, downscaleFreqShift: 0).ToFloat32Array();
        Assert.Equal([1f, 1f, 1f, 1f, 0f, 0f, 0f, 0f], y);
    }

    [Fact]
    public void TimestepFeatures_WithoutFlip_PutsSineFirst()
    {
        var y = _ops.TimestepFeatures([2f], 4, flipSinToCos: false, downscaleFreqShift: 0).ToFloat32Array();

        // half = 2: frequencies 1 and exp(-ln(10000) / 2) = 0.01.
        var second = 2f * (float)Math.Exp((float)-Math.Log(10000) / 2f);
        Assert.Equal([(float)Math.Sin(2f), (float)Math.Sin(second), (float)Math.Cos(2f), (float)Math.Cos(second)], y);
    }

    [Fact]
    public void TimestepFeatures_ShiftOne_LastFrequencyIsOneOverMaxPeriod_OddDimPadsZero()
    {
        var y = _ops.TimestepFeatures([1000f], 7, flipSinToCos: true, downscaleFreqShift: 1).ToFloat32Array();

        // half = 3, divisor 2: frequencies 1, 0.01, 0.0001; an odd dim ends in one zero.
        Assert.Equal(7, y.Length);
        Assert.Equal(Math.Cos(0.1), y[2], 1e-6);
        Assert.Equal(Math.Sin(0.1), y[5], 1e-6);
        Assert.Equal(0f, y[6]);
    }
}
