using CudaI2V.Kernels.Cuda;
using CudaI2V.Runtime.Cuda;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Tests.Kernels.Cuda;

/// <summary>
/// The activation, add, resample and non-finite-count launchers planned against fake device storage: entries by
/// dtype and variant, packed parameters, grids, empty tensors, and the refusals with the shapes they show.
/// </summary>
public sealed class ElementwiseLauncherPlanTests
{
    public static TheoryData<Activation, DType, string> Activations()
    {
        var data = new TheoryData<Activation, DType, string>();
        foreach (var (activation, name) in new[] { (Activation.Silu, "silu"), (Activation.Gelu, "gelu"), (Activation.QuickGelu, "quickgelu") })
        {
            foreach (var (dtype, suffix) in new[] { (DType.F32, "f32"), (DType.F16, "f16"), (DType.BF16, "bf16") })
            {
                data.Add(activation, dtype, $"activations_{name}_{suffix}");
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Activations))]
    public void Pointwise_activations_pick_their_entry_and_may_run_in_place(Activation activation, DType dtype, string entry)
    {
        var device = new FakeDevice();
        var x = device.Make(dtype, 3, 7, 11);

        var launch = ActivationsKernel.Plan(activation, x, x)!.Value;

        Assert.Equal(entry, launch.Entry);
        Assert.Equal(new ActivationsParams { Source = FakeDevice.Base, Destination = FakeDevice.Base, Count = 231 }, launch.Params);
        Assert.Equal(new LaunchConfig(new Dim3(1), new Dim3(256)), launch.Config);
        Assert.Null(ActivationsKernel.Plan(activation, device.Make(dtype, 0), device.Make(dtype, 0)));
    }

    [Theory]
    [InlineData(DType.F32, "activations_geglu_f32")]
    [InlineData(DType.F16, "activations_geglu_f16")]
    [InlineData(DType.BF16, "activations_geglu_bf16")]
    public void Geglu_halves_the_last_axis(DType dtype, string entry)
    {
        var device = new FakeDevice();
        var (x, y) = (device.Make(dtype, 2, 7, 10), device.Make(dtype, 2, 7, 5));

        var launch = ActivationsKernel.PlanGeglu(x, y, maxBlocks: 1)!.Value;

        Assert.Equal(entry, launch.Entry);
        Assert.Equal(new ActivationsParams { Source = FakeDevice.Address(0), Destination = FakeDevice.Address(1), Count = 70, Width = 5 }, launch.Params);
        Assert.Equal(new Dim3(1), launch.Config.Grid);
    }

    [Fact]
    public void Activations_refuse_mismatched_outputs_odd_geglu_inputs_and_overlap()
    {
        var device = new FakeDevice();
        var x = device.Make(DType.F16, 4, 6);

        Assert.Contains("y must be F16 [4, 6], got BF16 [4, 6]", Assert.Throws<ArgumentException>(() => ActivationsKernel.Plan(Activation.Gelu, x, device.Make(DType.BF16, 4, 6))).Message, StringComparison.Ordinal);
        Assert.Contains("Geglu: x [4, 5] must end in an even number", Assert.Throws<ArgumentException>(() => ActivationsKernel.PlanGeglu(device.Make(DType.F16, 4, 5), device.Make(DType.F16, 4, 2))).Message, StringComparison.Ordinal);
        Assert.Contains("y must be F16 [4, 3], got F16 [4, 6]", Assert.Throws<ArgumentException>(() => ActivationsKernel.PlanGeglu(x, device.Make(DType.F16, 4, 6))).Message, StringComparison.Ordinal);
        Assert.Contains("overlap in memory", Assert.Throws<ArgumentException>(() => ActivationsKernel.PlanGeglu(x, x.Reshape(24).Slice(0, 0, 12).Reshape(4, 3))).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => ActivationsKernel.Plan((Activation)7, x, x));
    }

    [Theory]
    [InlineData(DType.F32, "f32")]
    [InlineData(DType.F16, "f16")]
    [InlineData(DType.BF16, "bf16")]
    public void Add_and_scaled_add_share_an_entry_and_rows_have_their_own(DType dtype, string suffix)
    {
        var device = new FakeDevice();
        var (a, b, output) = (device.Make(dtype, 3, 5, 7), device.Make(dtype, 3, 5, 7), device.Make(dtype, 3, 5, 7));
        var rows = device.Make(dtype, 3, 7);

        var plain = AddKernel.Plan(a, b, output)!.Value;
        var scaled = AddKernel.Plan(a, b, a, scale: -0.5f)!.Value;
        var broadcast = AddKernel.PlanRows(a, rows, output)!.Value;

        Assert.Equal($"add_{suffix}", plain.Entry);
        Assert.Equal(new AddParams { A = FakeDevice.Address(0), B = FakeDevice.Address(1), Output = FakeDevice.Address(2), Count = 105, Scale = 1f }, plain.Params);
        Assert.Equal((FakeDevice.Address(0), -0.5f), (scaled.Params.Output, scaled.Params.Scale));
        Assert.Equal($"add_rows_{suffix}", broadcast.Entry);
        Assert.Equal(new AddParams { A = FakeDevice.Address(0), B = FakeDevice.Address(3), Output = FakeDevice.Address(2), Count = 105, RowElements = 35, Channels = 7, Scale = 1f }, broadcast.Params);
    }

    [Fact]
    public void Adds_refuse_mismatched_shapes_and_dtypes()
    {
        var device = new FakeDevice();
        var x = device.Make(DType.F16, 2, 4, 3);

        Assert.Contains("shapes [2, 4, 3] and [2, 3, 4] differ", Assert.Throws<ArgumentException>(() => AddKernel.Plan(x, device.Make(DType.F16, 2, 3, 4), x)).Message, StringComparison.Ordinal);
        Assert.Contains("b must be F16 [2, 4, 3], got F32 [2, 4, 3]", Assert.Throws<ArgumentException>(() => AddKernel.Plan(x, device.Make(DType.F32, 2, 4, 3), x)).Message, StringComparison.Ordinal);
        Assert.Contains("rows must be [2, 3], got [2, 4]", Assert.Throws<ArgumentException>(() => AddKernel.PlanRows(x, device.Make(DType.F16, 2, 4), x)).Message, StringComparison.Ordinal);
        Assert.Contains("output must be F16 [2, 4, 3], got F16 [2, 12]", Assert.Throws<ArgumentException>(() => AddKernel.PlanRows(x, device.Make(DType.F16, 2, 3), device.Make(DType.F16, 2, 12))).Message, StringComparison.Ordinal);
        Assert.Null(AddKernel.PlanRows(device.Make(DType.F16, 0, 3), device.Make(DType.F16, 0, 3), device.Make(DType.F16, 0, 3)));
    }

    [Theory]
    [InlineData(DType.F32, "f32")]
    [InlineData(DType.F16, "f16")]
    [InlineData(DType.BF16, "bf16")]
    public void Resampling_takes_the_output_size_from_the_output(DType dtype, string suffix)
    {
        var device = new FakeDevice();
        var (x, up, down) = (device.Make(dtype, 2, 7, 9, 3), device.Make(dtype, 2, 13, 18, 3), device.Make(dtype, 2, 3, 4, 3));

        var nearest = ResampleKernel.PlanNearest(x, up)!.Value;
        var pool = ResampleKernel.PlanPool(x, down)!.Value;

        Assert.Equal($"resample_nearest_{suffix}", nearest.Entry);
        Assert.Equal(new ResampleParams { Source = FakeDevice.Address(0), Destination = FakeDevice.Address(1), Count = 1404, InHeight = 7, InWidth = 9, OutHeight = 13, OutWidth = 18, Channels = 3 }, nearest.Params);
        Assert.Equal(new Dim3(6), nearest.Config.Grid);
        Assert.Equal($"resample_pool_{suffix}", pool.Entry);
        Assert.Equal((72L, 3, 4), (pool.Params.Count, pool.Params.OutHeight, pool.Params.OutWidth));
    }

    [Fact]
    public void Resampling_refuses_other_batches_channels_ranks_and_overlap()
    {
        var device = new FakeDevice();
        var x = device.Make(DType.F16, 2, 4, 4, 3);

        Assert.Contains("y must be F16 [2, 8, 8, 3], got F16 [1, 8, 8, 3]", Assert.Throws<ArgumentException>(() => ResampleKernel.PlanNearest(x, device.Make(DType.F16, 1, 8, 8, 3))).Message, StringComparison.Ordinal);
        Assert.Contains("y must be F16 [2, 2, 2, 3], got F16 [2, 2, 2, 4]", Assert.Throws<ArgumentException>(() => ResampleKernel.PlanPool(x, device.Make(DType.F16, 2, 2, 2, 4))).Message, StringComparison.Ordinal);
        Assert.Contains("y must be (N, OH, OW, C), got [2, 8, 24]", Assert.Throws<ArgumentException>(() => ResampleKernel.PlanNearest(x, device.Make(DType.F16, 2, 8, 24))).Message, StringComparison.Ordinal);
        Assert.Contains("x must be (N, H, W, C), got [2, 16, 3]", Assert.Throws<ArgumentException>(() => ResampleKernel.PlanPool(device.Make(DType.F16, 2, 16, 3), device.Make(DType.F16, 2, 2, 2, 3))).Message, StringComparison.Ordinal);
        Assert.Contains("overlap in memory", Assert.Throws<ArgumentException>(() => ResampleKernel.PlanPool(x, x.Reshape(96).Slice(0, 0, 24).Reshape(2, 2, 2, 3))).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DType.F32, "non_finite_count_f32")]
    [InlineData(DType.F16, "non_finite_count_f16")]
    [InlineData(DType.BF16, "non_finite_count_bf16")]
    public void The_non_finite_count_adds_into_element_0_of_an_I64_counter(DType dtype, string entry)
    {
        var device = new FakeDevice();
        var counter = device.Make(DType.I64, 4);
        var x = device.Make(dtype, 1000, 1000);

        var plan = NonFiniteKernel.Plan(x, counter.Slice(0, 2, 1), maxBlocks: 100);
        var launch = plan.Count!.Value;

        Assert.Equal(new DeviceMemset(FakeDevice.Address(0) + 16, 0, 8), plan.ZeroCounter); // zeroed first
        Assert.Equal(entry, launch.Entry);
        Assert.Equal(new NonFiniteParams { Source = FakeDevice.Address(1), Counter = FakeDevice.Address(0) + 16, Count = 1_000_000 }, launch.Params);
        Assert.Equal(new Dim3(100), launch.Config.Grid);
        Assert.Null(NonFiniteKernel.Plan(x, counter, accumulate: true).ZeroCounter); // added to what the counter holds
        Assert.Equal(new NonFinitePlan(new DeviceMemset(FakeDevice.Address(0), 0, 8), null), NonFiniteKernel.Plan(device.Make(dtype, 0), counter)); // an empty x counts 0
    }

    [Fact]
    public void The_non_finite_count_refuses_other_counters()
    {
        var device = new FakeDevice();
        var x = device.Make(DType.F16, 10);
        var misaligned = Tensor.View(new DeviceStorage(FakeDevice.Base + (1UL << 30), 16, () => true, "fake"), 4, DType.I64, new TensorShape(1));

        Assert.Contains("counter must be an I64 tensor of at least one element, got F32 [1]", Assert.Throws<ArgumentException>(() => NonFiniteKernel.Plan(x, device.Make(DType.F32, 1))).Message, StringComparison.Ordinal);
        Assert.Contains("got I64 [0]", Assert.Throws<ArgumentException>(() => NonFiniteKernel.Plan(x, device.Make(DType.I64, 0))).Message, StringComparison.Ordinal);
        Assert.Contains("not 8-byte aligned", Assert.Throws<ArgumentException>(() => NonFiniteKernel.Plan(x, misaligned)).Message, StringComparison.Ordinal);
        Assert.Contains("host memory", Assert.Throws<ArgumentException>(() => NonFiniteKernel.Plan(x, Tensor.Zeros(DType.I64, new TensorShape(1)))).Message, StringComparison.Ordinal);
    }
}
