// cudai2v-archs: sm_80 sm_89 sm_90
//
// Softmax over rows of attention scores: probs[r, j] = exp(x_j - max x) / sum_j exp(x_j - max x), with
// x_j = scores[r, j] * scale. The dtype suffix of an entry is that of probs; the scores are always fp32 (the
// GEMM S = Q K^T writes its fp32 accumulators).
//
// Layout: scores fp32 [rows, cols] and probs [rows, cols], both row-major and contiguous (rows = images x
// queries of one chunk of one head, cols = keys).
// Grid: one warp per row (a block of 256 threads holds 8 rows), grid-stride over rows, so any row count fits
// a capped grid; within a row the 32 lanes stride over the columns, and warp reductions give every lane the
// row's maximum and sum. Three passes over the row (maximum, sum, write) read the scores three times; a row
// of even 14,080 keys is 55 KB and stays in L2 between passes.
// Numerics: all in fp32. The 1/sqrt(d) scale multiplies the fp32 score here (it is never rounded into fp16
// Q); the maximum is subtracted before exp, so no exp overflows; each probability is rounded to the element
// type once, after the multiplication by the inverse of the row's sum.
#include "Common.cuh"

struct SoftmaxParams {
    u64 scores;  // device address of the fp32 scores [rows, cols]
    u64 probs;   // device address of the probabilities [rows, cols]
    i64 rows;    // rows
    int cols;    // keys per row, at least 1
    float scale; // multiplies every score before the softmax
};
static_assert(sizeof(SoftmaxParams) == 32, "");

template <typename T>
__device__ void softmax(const SoftmaxParams& p) {
    const int lane = threadIdx.x & 31;
    const i64 warps = grid_stride() / 32;
    // The row index is the same for all 32 lanes of a warp, so the warp reductions below see every lane.
    for (i64 row = global_index() / 32; row < p.rows; row += warps) {
        const float* s = device_ptr<const float>(p.scores) + row * p.cols;
        T* out = device_ptr<T>(p.probs) + row * p.cols;
        float m = __int_as_float(0xff800000); // -infinity
        for (int j = lane; j < p.cols; j += 32) {
            m = fmaxf(m, s[j] * p.scale);
        }
        m = warp_max(m);
        float sum = 0.0f;
        for (int j = lane; j < p.cols; j += 32) {
            sum += expf(s[j] * p.scale - m);
        }
        const float inverse = 1.0f / warp_sum(sum);
        for (int j = lane; j < p.cols; j += 32) {
            out[j] = from_f32<T>(expf(s[j] * p.scale - m) * inverse);
        }
    }
}

extern "C" __global__ void softmax_f32(SoftmaxParams p) {
    softmax<float>(p);
}
extern "C" __global__ void softmax_f16(SoftmaxParams p) {
    softmax<f16>(p);
}
extern "C" __global__ void softmax_bf16(SoftmaxParams p) {
    softmax<bf16>(p);
}
