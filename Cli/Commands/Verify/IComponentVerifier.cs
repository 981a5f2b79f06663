using CudaI2V.Kernels;
using CudaI2V.Loader;
using CudaI2V.Runtime.Caching;

namespace CudaI2V.Cli.Commands.Verify;

/// <summary>What a verify run hands each component's verifier.</summary>
/// <param name="Model">The model folder given with --model.</param>
/// <param name="Variant">The weight variant the user asked for, if any.</param>
/// <param name="Io">The reference file given with --io.</param>
/// <param name="Ops">The backend to run on.</param>
/// <param name="Report">Where compared tensors go.</param>
/// <param name="Context">Output streams (timing and notes go to stderr).</param>
/// <param name="Cache">The cache root (--cache-dir), for what a component builds once (the text encoder's ONNX model).</param>
/// <param name="Args">The command line, for options only some components read (--image).</param>
internal sealed record VerifyRun(ModelDirectory Model, WeightVariant? Variant, IoFile Io, IOps Ops, VerifyReport Report, CliContext Context, CacheRoot Cache, ParsedArgs Args)
{
    /// <summary>The weight files to prefer where both exist and --variant is not given: fp16 on the GPU, fp32 on the CPU.</summary>
    public WeightVariant PreferredVariant => WeightFiles.DefaultFor(Ops.ActivationDType);
}

/// <summary>One component <c>cudai2v verify</c> can check: reads its inputs from the io file, runs, compares.</summary>
internal interface IComponentVerifier
{
    /// <summary>The word after <c>verify</c> ("unet", "vae-decode", ...).</summary>
    string Name { get; }

    /// <summary>Help lines: what the io file must hold and what is compared.</summary>
    string Help { get; }

    /// <summary>The largest absolute difference that passes when --tolerance is not given.</summary>
    double DefaultTolerance => 1e-4;

    /// <summary>When set, the bar without --tolerance on every device: each tensor's max_rel (see <see cref="VerifyReport.Relative"/>).</summary>
    double? DefaultMaxRel => null;

    /// <summary>Runs the check; adds every compared tensor to the run's report.</summary>
    void Run(VerifyRun run);
}
