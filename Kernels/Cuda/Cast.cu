// cudai2v-archs: sm_80 sm_89 sm_90
//
// Cast: dst[i] = convert(src[i]) for every i in [0, count), between fp32, fp16 and bf16 in all six
// directions. Entry points are cast_<from>_<to>.
//
// Layout: src and dst are contiguous arrays of count elements (the launcher refuses strided views).
// Grid: one-dimensional grid-stride loop; consecutive threads handle consecutive elements (coalesced).
// Numerics: every conversion goes through fp32, which holds fp16 and bf16 exactly, so narrowing
// rounds exactly once (to nearest even) and widening is exact; fp16 <-> bf16 also rounds once.
#include "Common.cuh"

struct CastParams {
    u64 src;   // device address of the source's element 0
    u64 dst;   // device address of the destination's element 0
    i64 count; // elements
};
static_assert(sizeof(CastParams) == 24, "");

template <typename From, typename To>
__device__ void cast(const CastParams& p) {
    const From* src = device_ptr<const From>(p.src);
    To* dst = device_ptr<To>(p.dst);
    for (i64 i = global_index(); i < p.count; i += grid_stride()) {
        dst[i] = from_f32<To>(to_f32(src[i]));
    }
}

extern "C" __global__ void cast_f32_f16(CastParams p) {
    cast<float, f16>(p);
}
extern "C" __global__ void cast_f32_bf16(CastParams p) {
    cast<float, bf16>(p);
}
extern "C" __global__ void cast_f16_f32(CastParams p) {
    cast<f16, float>(p);
}
extern "C" __global__ void cast_bf16_f32(CastParams p) {
    cast<bf16, float>(p);
}
extern "C" __global__ void cast_f16_bf16(CastParams p) {
    cast<f16, bf16>(p);
}
extern "C" __global__ void cast_bf16_f16(CastParams p) {
    cast<bf16, f16>(p);
}
