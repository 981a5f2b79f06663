// cudai2v-archs: sm_80 sm_89 sm_90
//
// NonFinite: counter += the number of elements of x that are NaN or infinite (the check after each
// denoising step; black frames from fp16 overflow show up here first).
//
// Layout: x is a contiguous array of count elements (fp32, fp16 or bf16); counter is one unsigned 64-bit
// integer in device memory, which the launcher zeroes first unless asked to accumulate.
// Grid: one-dimensional grid-stride loop; each thread counts its elements, each warp sums its lanes'
// counts with one redux.sync (sm_80+), and lane 0 adds the warp's count to the counter atomically, so
// a capped grid issues at most one atomic per warp.
// Numerics: a value is non-finite when its exponent bits are all ones (the test reads raw bits, so no
// compiler flag can turn it into an always-false float comparison).
#include "Common.cuh"

struct NonFiniteParams {
    u64 src;     // device address of x's element 0
    u64 counter; // device address of the u64 count
    i64 count;   // elements of x
};
static_assert(sizeof(NonFiniteParams) == 24, "");

__device__ __forceinline__ bool non_finite(float v) {
    return (__float_as_uint(v) & 0x7F800000u) == 0x7F800000u;
}
__device__ __forceinline__ bool non_finite(f16 v) {
    return (v.bits & 0x7C00u) == 0x7C00u;
}
__device__ __forceinline__ bool non_finite(bf16 v) {
    return (v.bits & 0x7F80u) == 0x7F80u;
}

template <typename T>
__device__ void non_finite_count(const NonFiniteParams& p) {
    const T* src = device_ptr<const T>(p.src);
    unsigned n = 0;
    // Lanes leave the loop at different iterations, but all 32 of each warp reach the redux below.
    for (i64 i = global_index(); i < p.count; i += grid_stride()) {
        n += non_finite(src[i]) ? 1u : 0u;
    }
    const unsigned warp_total = __reduce_add_sync(0xffffffffu, n);
    if (threadIdx.x % 32 == 0 && warp_total != 0) {
        atomicAdd(device_ptr<unsigned long long>(p.counter), (unsigned long long)warp_total);
    }
}

extern "C" __global__ void non_finite_count_f32(NonFiniteParams p) {
    non_finite_count<float>(p);
}
extern "C" __global__ void non_finite_count_f16(NonFiniteParams p) {
    non_finite_count<f16>(p);
}
extern "C" __global__ void non_finite_count_bf16(NonFiniteParams p) {
    non_finite_count<bf16>(p);
}
