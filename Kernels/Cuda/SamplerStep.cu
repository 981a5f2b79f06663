// cudai2v-archs: sm_80 sm_89 sm_90
//
// The two stages of a multistep sampler's step (DPM-Solver++, UniPC, Euler) on the fp32 latents, each a
// weighted sum whose scalars the host computed from the schedule (SamplerUpdate.cs is the host reference):
//
// predict:  m = guided ? u + g * (c - u) : out       u, c: the unconditional and conditional halves of out
//           prediction = a * x + b * m                (the solver's x0 from an epsilon, v or sample output)
// combine:  base = correct ? cl * last + c0 * h0 + c1 * h1 + c2 * h2 : x      (UniPC's corrector)
//           last = base                               when last is given
//           x = s * base + w0 * h0 + w1 * h1 + w2 * h2
//           copy[r * count + i] = rounded(input_scale * x)   for r < copies, when copy is given
//
// A term whose weight is 0 is skipped: its buffer is not read (a history slot may hold nothing yet), and its
// address may be 0. Terms are added left to right starting from 0.
// Layout: every buffer is fp32 [count] except out ([count] or, guided, [2 * count], in the model dtype)
// and copy ([copies * count], in the model dtype). Any shape works: both stages are elementwise.
// Grid: one-dimensional grid-stride loop over latent elements (coalesced everywhere).
// Numerics: every operation is a separately rounded fp32 operation in the order above (the __f*_rn intrinsics
// are never contracted into fused multiply-adds), exactly SamplerUpdate.Predict and .Combine, so the GPU
// latents equal the CPU latents bit for bit from the same model output.
#include "Common.cuh"

struct SamplerPredictParams {
    u64 model_output;    // device address of the model output's element 0
    u64 latents;         // fp32, read
    u64 prediction;      // fp32, written
    i64 count;           // latent elements
    int guided;          // 1: out holds the unconditional then the conditional half
    float guidance;      // g
    float sample_weight; // a
    float output_weight; // b
};
static_assert(sizeof(SamplerPredictParams) == 48, "");

struct SamplerCombineParams {
    u64 latents;            // fp32, read and written
    u64 history0;           // fp32 predictions, newest first; 0 where unused
    u64 history1;           // the previous prediction
    u64 history2;           // the one before
    u64 last;               // fp32 last sample, or 0
    u64 copy;               // the model dtype, or 0 for none
    i64 count;              // latent elements
    int copies;             // how many times the new input is written to copy
    int correct;            // 1: base comes from the corrector's weights (reads last)
    float update_sample;    // s
    float update_history0;  // w0
    float update_history1;  // w1
    float update_history2;  // w2
    float correct_last;     // cl
    float correct_history0; // c0
    float correct_history1; // c1
    float correct_history2; // c2
    float input_scale;      // the next UNet input's factor
    int pad;                // keeps the size a multiple of 8 on both sides
};
static_assert(sizeof(SamplerCombineParams) == 104, "");

template <typename T>
__device__ void sampler_predict(const SamplerPredictParams& p) {
    const T* out = device_ptr<const T>(p.model_output);
    const float* latents = device_ptr<const float>(p.latents);
    float* prediction = device_ptr<float>(p.prediction);
    for (i64 i = global_index(); i < p.count; i += grid_stride()) {
        float value = 0.0f;
        if (p.sample_weight != 0.0f) {
            value = __fadd_rn(value, __fmul_rn(p.sample_weight, latents[i]));
        }
        if (p.output_weight != 0.0f) {
            float m = to_f32(out[i]);
            if (p.guided) {
                m = __fadd_rn(m, __fmul_rn(p.guidance, __fsub_rn(to_f32(out[p.count + i]), m)));
            }
            value = __fadd_rn(value, __fmul_rn(p.output_weight, m));
        }
        prediction[i] = value;
    }
}

// One weighted sum: sample_weight * sample + the weighted history entries, zero weights skipped.
__device__ __forceinline__ float weighted_sum(float ws, float sample, float w0, float w1, float w2,
                                              const float* h0, const float* h1, const float* h2, i64 i) {
    float value = 0.0f;
    if (ws != 0.0f) {
        value = __fadd_rn(value, __fmul_rn(ws, sample));
    }
    if (w0 != 0.0f) {
        value = __fadd_rn(value, __fmul_rn(w0, h0[i]));
    }
    if (w1 != 0.0f) {
        value = __fadd_rn(value, __fmul_rn(w1, h1[i]));
    }
    if (w2 != 0.0f) {
        value = __fadd_rn(value, __fmul_rn(w2, h2[i]));
    }
    return value;
}

template <typename T>
__device__ void sampler_combine(const SamplerCombineParams& p) {
    float* latents = device_ptr<float>(p.latents);
    const float* h0 = device_ptr<const float>(p.history0);
    const float* h1 = device_ptr<const float>(p.history1);
    const float* h2 = device_ptr<const float>(p.history2);
    float* last = device_ptr<float>(p.last);
    T* copy = device_ptr<T>(p.copy);
    for (i64 i = global_index(); i < p.count; i += grid_stride()) {
        float base = latents[i];
        if (p.correct) {
            base = weighted_sum(p.correct_last, last[i], p.correct_history0, p.correct_history1,
                                p.correct_history2, h0, h1, h2, i);
        }
        if (p.last != 0) {
            last[i] = base;
        }
        const float next = weighted_sum(p.update_sample, base, p.update_history0, p.update_history1,
                                        p.update_history2, h0, h1, h2, i);
        latents[i] = next;
        if (p.copy != 0) {
            const T rounded = from_f32<T>(__fmul_rn(p.input_scale, next));
            for (int r = 0; r < p.copies; ++r) {
                copy[r * p.count + i] = rounded;
            }
        }
    }
}

extern "C" __global__ void sampler_step_predict_f32(SamplerPredictParams p) {
    sampler_predict<float>(p);
}
extern "C" __global__ void sampler_step_predict_f16(SamplerPredictParams p) {
    sampler_predict<f16>(p);
}
extern "C" __global__ void sampler_step_predict_bf16(SamplerPredictParams p) {
    sampler_predict<bf16>(p);
}
extern "C" __global__ void sampler_step_combine_f32(SamplerCombineParams p) {
    sampler_combine<float>(p);
}
extern "C" __global__ void sampler_step_combine_f16(SamplerCombineParams p) {
    sampler_combine<f16>(p);
}
extern "C" __global__ void sampler_step_combine_bf16(SamplerCombineParams p) {
    sampler_combine<bf16>(p);
}
