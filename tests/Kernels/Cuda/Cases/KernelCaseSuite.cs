namespace CudaI2V.Tests.Kernels.Cuda.Cases;

/// <summary>
/// Every kernel case table on one kind of device: the host emulation (every machine: the plans, their grids, index
/// arithmetic and workspace layouts) or a real GPU (the kernels themselves). A failure on the GPU and not in the
/// emulation points at a kernel, not at a plan. Adding a row to a table adds a test here on both.
/// </summary>
public abstract class KernelCaseSuite
{
    public static TheoryData<string> NormalisationCases => KernelCases.Names(NormCases.All);

    public static TheoryData<string> ActivationCases => KernelCases.Names(ElementwiseCases.Activations);

    public static TheoryData<string> AddCases => KernelCases.Names(ElementwiseCases.Adds);

    public static TheoryData<string> LayoutCopyCases => KernelCases.Names(LayoutCases.All);

    public static TheoryData<string> ResamplingCases => KernelCases.Names(ResampleCases.All);

    public static TheoryData<string> DdimStepCases => KernelCases.Names(SchedulingCases.DdimStep);

    public static TheoryData<string> NonFiniteCases => KernelCases.Names(SchedulingCases.NonFinite);

    public static TheoryData<string> CastAndFillCases => KernelCases.Names(CastFillCases.All);

    private protected abstract IOpTestDevice NewDevice();

    [Theory]
    [MemberData(nameof(NormalisationCases))]
    public void Normalisation_matches_the_cpu_backend(string name) => Run(NormCases.All, name);

    [Theory]
    [MemberData(nameof(ActivationCases))]
    public void Activations_match_the_cpu_backend(string name) => Run(ElementwiseCases.Activations, name);

    [Theory]
    [MemberData(nameof(AddCases))]
    public void Adds_match_the_cpu_backend(string name) => Run(ElementwiseCases.Adds, name);

    [Theory]
    [MemberData(nameof(LayoutCopyCases))]
    public void Layout_ops_rearrange_exactly_as_the_cpu_backend(string name) => Run(LayoutCases.All, name);

    [Theory]
    [MemberData(nameof(ResamplingCases))]
    public void Resampling_matches_the_cpu_backend(string name) => Run(ResampleCases.All, name);

    [Theory]
    [MemberData(nameof(DdimStepCases))]
    public void The_ddim_step_equals_the_host_scheduler_bit_for_bit(string name) => Run(SchedulingCases.DdimStep, name);

    [Theory]
    [MemberData(nameof(NonFiniteCases))]
    public void The_non_finite_count_finds_every_nan_and_infinity(string name) => Run(SchedulingCases.NonFinite, name);

    [Theory]
    [MemberData(nameof(CastAndFillCases))]
    public void Casts_and_fills_match_the_host_conversion_bit_for_bit(string name) => Run(CastFillCases.All, name);

    private void Run(IReadOnlyDictionary<string, KernelCase> table, string name)
    {
        using var device = NewDevice();
        table[name].Run(device);
    }
}
