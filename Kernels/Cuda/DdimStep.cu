// cudai2v-archs: sm_80 sm_89 sm_90
//
// One DDIM step fused with classifier-free guidance, on the fp32 latents in place:
//   m = guided ? u + g * (c - u) : out      u, c: the unconditional and conditional halves of out
//   epsilon:  x0 = (x - sqrt_beta_t * m) / sqrt_alpha_t,   eps = m
//   v:        x0 = sqrt_alpha_t * x - sqrt_beta_t * m,    eps = sqrt_alpha_t * m + sqrt_beta_t * x
//   sample:   x0 = m,                                     eps = (x - sqrt_alpha_t * m) / sqrt_beta_t
//   x0 = clamp(x0, -range, range) when clip (NaN passes through, as torch.clamp)
//   x = sqrt_alpha_prev * x0 + direction * eps, then + std_dev_t * noise when noise is given
// and the new x is also stored, rounded, `copies` times into the next UNet input.
//
// Layout: latents is fp32 [count]; out is [count] or, guided, [2 * count] = [unconditional ; conditional]
// in the model dtype (fp32, fp16 or bf16); noise is fp32 [count] or absent; copy is [copies * count] in
// the model dtype or absent. Any shape works: the update is elementwise.
// Grid: one-dimensional grid-stride loop over latent elements (coalesced everywhere).
// Numerics: every operation is a separately rounded fp32 operation in the order above (the __f*_rn
// intrinsics are never contracted into fused multiply-adds), exactly the host DDIMScheduler.Step after
// VideoEngine.Guide, so the GPU latents equal the CPU latents bit for bit from the same model output.
#include "Common.cuh"

#define DDIM_EPSILON 0
#define DDIM_V_PREDICTION 1
#define DDIM_SAMPLE 2

struct DdimStepParams {
    u64 model_output;             // device address of the model output's element 0
    u64 latents;                  // fp32, read and written
    u64 noise;                    // fp32, or 0 for none
    u64 copy;                     // the model dtype, or 0 for none
    i64 count;                    // latent elements
    int copies;                   // how many times the new latents are written to copy
    int guided;                   // 1: out holds the unconditional then the conditional half
    int prediction;               // DDIM_EPSILON, DDIM_V_PREDICTION or DDIM_SAMPLE
    int clip;                     // 1: clamp x0 to [-clip_range, clip_range]
    float guidance;               // g
    float clip_range;             // the clamp's bound
    float sqrt_alpha_prod_t;      // sqrt(alphas_cumprod[t])
    float sqrt_beta_prod_t;       // sqrt(1 - alphas_cumprod[t])
    float sqrt_alpha_prod_t_prev; // sqrt(alphas_cumprod[prev])
    float direction;              // sqrt(1 - alpha_prev - std_dev_t^2)
    float std_dev_t;              // eta * sqrt(variance)
    int pad;                      // keeps the size a multiple of 8 on both sides
};
static_assert(sizeof(DdimStepParams) == 88, "");

template <typename T>
__device__ void ddim_step(const DdimStepParams& p) {
    const T* out = device_ptr<const T>(p.model_output);
    float* latents = device_ptr<float>(p.latents);
    const float* noise = device_ptr<const float>(p.noise);
    T* copy = device_ptr<T>(p.copy);
    const float sa = p.sqrt_alpha_prod_t;
    const float sb = p.sqrt_beta_prod_t;
    for (i64 i = global_index(); i < p.count; i += grid_stride()) {
        float m = to_f32(out[i]);
        if (p.guided) {
            m = __fadd_rn(m, __fmul_rn(p.guidance, __fsub_rn(to_f32(out[p.count + i]), m)));
        }
        const float x = latents[i];
        float x0;
        float eps;
        if (p.prediction == DDIM_EPSILON) {
            x0 = __fdiv_rn(__fsub_rn(x, __fmul_rn(sb, m)), sa);
            eps = m;
        } else if (p.prediction == DDIM_V_PREDICTION) {
            x0 = __fsub_rn(__fmul_rn(sa, x), __fmul_rn(sb, m));
            eps = __fadd_rn(__fmul_rn(sa, m), __fmul_rn(sb, x));
        } else {
            x0 = m;
            eps = __fdiv_rn(__fsub_rn(x, __fmul_rn(sa, m)), sb);
        }
        if (p.clip && x0 == x0) {
            x0 = fminf(fmaxf(x0, -p.clip_range), p.clip_range);
        }
        float next = __fadd_rn(__fmul_rn(p.sqrt_alpha_prod_t_prev, x0), __fmul_rn(p.direction, eps));
        if (p.noise != 0) {
            next = __fadd_rn(next, __fmul_rn(p.std_dev_t, noise[i]));
        }
        latents[i] = next;
        if (p.copy != 0) {
            const T rounded = from_f32<T>(next);
            for (int r = 0; r < p.copies; ++r) {
                copy[r * p.count + i] = rounded;
            }
        }
    }
}

extern "C" __global__ void ddim_step_f32(DdimStepParams p) {
    ddim_step<float>(p);
}
extern "C" __global__ void ddim_step_f16(DdimStepParams p) {
    ddim_step<f16>(p);
}
extern "C" __global__ void ddim_step_bf16(DdimStepParams p) {
    ddim_step<bf16>(p);
}
