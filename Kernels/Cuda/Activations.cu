// cudai2v-archs: sm_80 sm_89 sm_90
//
// Elementwise activations, each y = f(x) in fp32 arithmetic:
//   silu:      x / (1 + exp(-x))
//   gelu:      x * 0.5 * (1 + erf(x / sqrt(2)))            (exact GELU, PyTorch approximate="none")
//   quickgelu: x / (1 + exp(-1.702 x))                     (OpenAI CLIP's quick_gelu)
//   geglu:     x is [rows, 2D] = [value ; gate] per row, y[row, j] = value[j] * gelu(gate[j])
//
// Layout: contiguous arrays (fp32, fp16 or bf16); for geglu, count is the output's element count
// (rows x D) and width is D. y may be x for the three pointwise ones (not for geglu, whose rows shrink).
// Grid: one-dimensional grid-stride loop over output elements; consecutive threads take consecutive
// elements (coalesced; geglu reads the value and gate halves of a row as two coalesced streams).
// Numerics: expf and erff are NVRTC's libdevice functions (within 2 ulp); gelu(gate) is rounded to
// fp32 before the product with the value, as the CPU reference and PyTorch do.
#include "Common.cuh"

struct ActivationsParams {
    u64 src;   // device address of x's element 0
    u64 dst;   // device address of y's element 0
    i64 count; // output elements
    i64 width; // geglu: D, the output's last dimension (unused by the others)
};
static_assert(sizeof(ActivationsParams) == 32, "");

__device__ __forceinline__ float quick_gelu(float x) {
    return x / (1.0f + expf(-1.702f * x));
}

template <typename T, float (*F)(float)>
__device__ void pointwise(const ActivationsParams& p) {
    const T* src = device_ptr<const T>(p.src);
    T* dst = device_ptr<T>(p.dst);
    for (i64 i = global_index(); i < p.count; i += grid_stride()) {
        dst[i] = from_f32<T>(F(to_f32(src[i])));
    }
}

template <typename T>
__device__ void geglu(const ActivationsParams& p) {
    const T* src = device_ptr<const T>(p.src);
    T* dst = device_ptr<T>(p.dst);
    for (i64 i = global_index(); i < p.count; i += grid_stride()) {
        const i64 row = i / p.width;
        const i64 j = i - row * p.width;
        const T* in = src + row * 2 * p.width;
        dst[i] = from_f32<T>(to_f32(in[j]) * gelu_erf(to_f32(in[p.width + j])));
    }
}

extern "C" __global__ void activations_silu_f32(ActivationsParams p) {
    pointwise<float, silu>(p);
}
extern "C" __global__ void activations_silu_f16(ActivationsParams p) {
    pointwise<f16, silu>(p);
}
extern "C" __global__ void activations_silu_bf16(ActivationsParams p) {
    pointwise<bf16, silu>(p);
}
extern "C" __global__ void activations_gelu_f32(ActivationsParams p) {
    pointwise<float, gelu_erf>(p);
}
extern "C" __global__ void activations_gelu_f16(ActivationsParams p) {
    pointwise<f16, gelu_erf>(p);
}
extern "C" __global__ void activations_gelu_bf16(ActivationsParams p) {
    pointwise<bf16, gelu_erf>(p);
}
extern "C" __global__ void activations_quickgelu_f32(ActivationsParams p) {
    pointwise<float, quick_gelu>(p);
}
extern "C" __global__ void activations_quickgelu_f16(ActivationsParams p) {
    pointwise<f16, quick_gelu>(p);
}
extern "C" __global__ void activations_quickgelu_bf16(ActivationsParams p) {
    pointwise<bf16, quick_gelu>(p);
}
extern "C" __global__ void activations_geglu_f32(ActivationsParams p) {
    geglu<float>(p);
}
extern "C" __global__ void activations_geglu_f16(ActivationsParams p) {
    geglu<f16>(p);
}
extern "C" __global__ void activations_geglu_bf16(ActivationsParams p) {
    geglu<bf16>(p);
}
