// cudai2v-archs: sm_80 sm_89 sm_90
//
// LayerNorm over the last axis: y = (x - mean) * rstd * gamma[c] + beta[c] for each row, with
// rstd = 1 / sqrt(var + eps) and the biased variance.
//
// Layout: x and y are [rows, C] contiguous (any leading shape flattened; fp32, fp16 or bf16); gamma and
// beta are [C] of the same dtype. y may be x.
// Grid: one warp per row, eight rows per 256-thread block, the blocks looping over rows when the grid
// is capped. Lane l reads channels l, l + 32, ...: each warp load is 32 consecutive elements.
// Numerics: a true two-pass in fp32, as the CPU reference does in double: the mean first (warp sum of
// per-lane sums), then the mean of squared deviations from it, so no cancellation whatever the
// offset of the row. The row is read three times; the second and third reads hit the L1/L2 cache
// (a row of the UNet's largest width, 1280 fp16 values, is 2.5 KB).
#include "Common.cuh"

#define LN_ROWS_PER_BLOCK 8

struct LayerNormParams {
    u64 x;        // device address of x's element 0
    u64 y;        // the output
    u64 gamma;    // [C]
    u64 beta;     // [C]
    i64 rows;     // elements / C
    int channels; // C
    float eps;    // added to the variance
};
static_assert(sizeof(LayerNormParams) == 48, "");

template <typename T>
__device__ void layer_norm(const LayerNormParams& p) {
    const T* gamma = device_ptr<const T>(p.gamma);
    const T* beta = device_ptr<const T>(p.beta);
    const int lane = threadIdx.x % 32;
    const int c = p.channels;
    for (i64 row = (i64)blockIdx.x * LN_ROWS_PER_BLOCK + threadIdx.x / 32; row < p.rows;
         row += (i64)gridDim.x * LN_ROWS_PER_BLOCK) {
        const T* x = device_ptr<const T>(p.x) + row * c;
        T* y = device_ptr<T>(p.y) + row * c;
        float sum = 0.0f;
        for (int i = lane; i < c; i += 32) {
            sum += to_f32(x[i]);
        }
        const float mean = warp_sum(sum) / (float)c;
        float squares = 0.0f;
        for (int i = lane; i < c; i += 32) {
            const float d = to_f32(x[i]) - mean;
            squares += d * d;
        }
        const float rstd = 1.0f / sqrtf(warp_sum(squares) / (float)c + p.eps);
        for (int i = lane; i < c; i += 32) {
            y[i] = from_f32<T>((to_f32(x[i]) - mean) * rstd * to_f32(gamma[i]) + to_f32(beta[i]));
        }
    }
}

extern "C" __global__ void layer_norm_f32(LayerNormParams p) {
    layer_norm<float>(p);
}
extern "C" __global__ void layer_norm_f16(LayerNormParams p) {
    layer_norm<f16>(p);
}
extern "C" __global__ void layer_norm_bf16(LayerNormParams p) {
    layer_norm<bf16>(p);
}
