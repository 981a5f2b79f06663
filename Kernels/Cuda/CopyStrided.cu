// cudai2v-archs: sm_80 sm_89 sm_90
//
// Strided copy: dst[index] = src[index] for every multi-index of a shape of rank 1..6, each side with
// its own strides (in elements). It materialises views: permutations (NHWC <-> NCHW at the edges),
// slices, broadcasts (a source stride of 0) and padded rows.
//
// Layout: shape[0..rank) outermost first, src_strides and dst_strides likewise. The launcher first
// merges dimensions that are contiguous on both sides, so most copies run at rank 1-3.
// Grid: one-dimensional grid-stride loop over the row-major linear index; each thread splits its
// index into coordinates innermost first (one division per dimension). Consecutive threads write
// consecutive elements of the innermost dimension, so stores coalesce when dst is contiguous.
// Numerics: a bit-exact copy (elements move as raw bits; NaN payloads are kept).
#include "Common.cuh"

#define COPY_MAX_RANK 6

struct CopyStridedParams {
    u64 src;                        // device address of the source's element [0, ..., 0]
    u64 dst;                        // device address of the destination's element [0, ..., 0]
    i64 count;                      // product of shape
    int rank;                       // 1..COPY_MAX_RANK
    int pad;                        // aligns the arrays below
    i64 shape[COPY_MAX_RANK];       // outermost first; entries past rank are ignored
    i64 src_strides[COPY_MAX_RANK]; // elements
    i64 dst_strides[COPY_MAX_RANK]; // elements
};
static_assert(sizeof(CopyStridedParams) == 176, "");

template <typename T>
__device__ void copy_strided(const CopyStridedParams& p) {
    const T* src = device_ptr<const T>(p.src);
    T* dst = device_ptr<T>(p.dst);
    for (i64 i = global_index(); i < p.count; i += grid_stride()) {
        i64 rest = i;
        i64 s = 0;
        i64 d = 0;
#pragma unroll
        for (int k = COPY_MAX_RANK - 1; k >= 0; --k) {
            if (k < p.rank) {
                const i64 coordinate = rest % p.shape[k];
                rest /= p.shape[k];
                s += coordinate * p.src_strides[k];
                d += coordinate * p.dst_strides[k];
            }
        }
        dst[d] = src[s];
    }
}

// Elements move as raw bits, so the element type only sets the width: f16 and bf16 share a body.
extern "C" __global__ void copy_strided_f32(CopyStridedParams p) {
    copy_strided<unsigned int>(p);
}
extern "C" __global__ void copy_strided_f16(CopyStridedParams p) {
    copy_strided<unsigned short>(p);
}
extern "C" __global__ void copy_strided_bf16(CopyStridedParams p) {
    copy_strided<unsigned short>(p);
}
