using CudaI2V.Kernels.Cuda.Ops;
using CudaI2V.Runtime.Caching;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Kernels.Cuda.Backend;

/// <summary>How a <see cref="CudaOps"/> runs.</summary>
/// <param name="ActivationDType">fp16 (default), bf16 or fp32 storage of weights and activations (fp32: the VAE when upcast).</param>
/// <param name="WorkspaceBytes">The one scratch block ops share (im2col rows, attention scores, norm statistics); ops chunk their work to fit it.</param>
/// <param name="Cache">Where compiled kernels are kept between runs (none: compile every run).</param>
/// <param name="MatrixOps">The convolution, linear and attention implementations (<see cref="MatrixOpSet.Default"/> when null); swap one to compare a faster kernel.</param>
public sealed record CudaOpsOptions(DType ActivationDType = DType.F16, long WorkspaceBytes = 256L << 20, CacheRoot? Cache = null, MatrixOpSet? MatrixOps = null);
