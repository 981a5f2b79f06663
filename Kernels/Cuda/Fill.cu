// cudai2v-archs: sm_80 sm_89 sm_90
//
// Fill: dst[i] = value for every i in [0, count).
//
// Layout: dst is a contiguous array of count elements (fp32, fp16 or bf16); the launcher refuses
// strided views.
// Grid: one-dimensional grid-stride loop, so the launcher may cap the number of blocks and any count
// still fits: thread t writes elements t, t + gridDim.x * blockDim.x, ...; consecutive threads write
// consecutive elements, so every warp's stores coalesce.
// Numerics: value arrives as fp32 and is rounded once to the element type (nearest even; NaN stays
// NaN; values beyond the type's range become infinity).
#include "Common.cuh"

struct FillParams {
    u64 dst;     // device address of element 0
    i64 count;   // elements to write
    float value; // converted to the element type
    int pad;     // keeps the size a multiple of 8 on both sides
};
static_assert(sizeof(FillParams) == 24, "");

template <typename T>
__device__ void fill(const FillParams& p) {
    T* dst = device_ptr<T>(p.dst);
    const T value = from_f32<T>(p.value);
    for (i64 i = global_index(); i < p.count; i += grid_stride()) {
        dst[i] = value;
    }
}

extern "C" __global__ void fill_f32(FillParams p) {
    fill<float>(p);
}
extern "C" __global__ void fill_f16(FillParams p) {
    fill<f16>(p);
}
extern "C" __global__ void fill_bf16(FillParams p) {
    fill<bf16>(p);
}
