using CudaI2V.Runtime.Compilation;

namespace CudaI2V.Tests.Runtime.Cuda;

public sealed class KernelTargetTests
{
    private static readonly int[] Nvrtc118 = [35, 37, 50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90];

    [Fact]
    public void A_device_nvrtc_knows_gets_a_cubin_for_its_exact_architecture()
    {
        Assert.Equal(new KernelTarget(90, Cubin: true), KernelTarget.ForDevice(90, Nvrtc118));
        Assert.Equal("sm_89", KernelTarget.ForDevice(89, Nvrtc118).Name);
    }

    [Fact]
    public void A_device_newer_than_nvrtc_gets_ptx_for_the_newest_older_architecture()
    {
        var target = KernelTarget.ForDevice(120, Nvrtc118);
        Assert.Equal(new KernelTarget(90, Cubin: false), target);
        Assert.Equal("compute_90", target.Name);
        Assert.Equal("compute_87", KernelTarget.ForDevice(88, Nvrtc118).Name);
    }

    [Fact]
    public void A_device_older_than_nvrtc_is_refused_with_both_ranges()
    {
        var e = Assert.Throws<NotSupportedException>(() => KernelTarget.ForDevice(70, [75, 80, 90]));
        Assert.Contains("sm_75 to sm_90", e.Message, StringComparison.Ordinal);
        Assert.Contains("sm_70", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_an_architecture_list_the_cubin_is_tried() =>
        Assert.Equal(new KernelTarget(86, Cubin: true), KernelTarget.ForDevice(86, []));
}
