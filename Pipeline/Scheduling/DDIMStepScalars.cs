namespace CudaI2V.Pipeline.Scheduling;

/// <summary>
/// The float32 scalars of one <see cref="DDIMScheduler"/> step, computed as diffusers computes its 0-dim float32
/// tensors, so that any backend's elementwise update reproduces diffusers from the same numbers.
/// </summary>
/// <param name="Timestep">t, the current training timestep.</param>
/// <param name="PreviousTimestep">t - num_train_timesteps // num_inference_steps (negative on the last step).</param>
/// <param name="AlphaProdT">alphas_cumprod[t].</param>
/// <param name="AlphaProdTPrev">alphas_cumprod[prev], or the final alpha when prev is negative.</param>
/// <param name="SqrtAlphaProdT">sqrt(alpha_prod_t).</param>
/// <param name="SqrtBetaProdT">sqrt(1 - alpha_prod_t).</param>
/// <param name="SqrtAlphaProdTPrev">sqrt(alpha_prod_t_prev): the weight of the predicted clean sample.</param>
/// <param name="Variance">((1 - alpha_prev) / (1 - alpha_t)) * (1 - alpha_t / alpha_prev) (diffusers' _get_variance).</param>
/// <param name="StdDevT">eta * sqrt(variance): the weight of the added noise.</param>
/// <param name="DirectionCoefficient">sqrt(1 - alpha_prod_t_prev - std_dev_t^2): the weight of the predicted noise.</param>
public readonly record struct DDIMStepScalars(
    int Timestep,
    int PreviousTimestep,
    float AlphaProdT,
    float AlphaProdTPrev,
    float SqrtAlphaProdT,
    float SqrtBetaProdT,
    float SqrtAlphaProdTPrev,
    float Variance,
    float StdDevT,
    float DirectionCoefficient);
