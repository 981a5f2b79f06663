using CudaI2V.Kernels;

namespace CudaI2V.Pipeline.Scheduling;

/// <summary>
/// One step of a multistep sampler as plain coefficients: what <see cref="IOps.SamplerPredict"/> and
/// <see cref="IOps.SamplerCombine"/> execute. The scalars are computed in double from the float32 sigmas diffusers
/// holds, by diffusers' formulas, and then rounded to float.
/// </summary>
/// <param name="Index">The step's index, 0 first.</param>
/// <param name="Timestep">The timestep the UNet is evaluated at.</param>
/// <param name="Sigma">The step's sigma (the schedule's sigma at Index; the update moves to the sigma at Index + 1).</param>
/// <param name="Order">The order of the update (1 or 2: how many predictions the predictor combines).</param>
/// <param name="Prediction">x0 = a x + b m (no guidance: the run adds the request's scale).</param>
/// <param name="Combination">The new latents (and for UniPC the corrector) from the history, and the next input's scale.</param>
public sealed record SamplerStep(int Index, float Timestep, float Sigma, int Order, SamplerPrediction Prediction, SamplerCombination Combination);
