// cudai2v-archs: sm_80 sm_89 sm_90
//
// Im2col: gathers the receptive field of each output pixel of a 2-D convolution into one row, so that the
// convolution becomes one GEMM. For output pixel m = row_begin + r = (n * out_h + oy) * out_w + ox:
//   col[r, k] = x[n, oy * stride - pad_top + ky, ox * stride - pad_left + kx, ci], zero in the padding.
//
// Layout: x is (N, H, W, C) channels-last and contiguous; col is [rows, K] row-major, K = kernel_h * kernel_w
// * C. The order of k within a row is the entry's variant, matching the weight the GEMM uses:
//   hwc: k = (ky * kernel_w + kx) * C + ci   (weights packed as [Cout][kh][kw][Cin]; each tap's channels are
//        contiguous, like a channels-last pixel, so reads and writes both coalesce)
//   chw: k = (ci * kernel_h + ky) * kernel_w + kx   (PyTorch's own [Cout][Cin][kh][kw], used unconverted)
//   hwcv: the hwc order, moved 16 bytes at a time (see im2col_vectors below)
// Grid: one-dimensional grid-stride loop over rows * C: each thread gathers one input channel of one patch,
// for every tap of the kernel, so the division of its index into pixel coordinates is done once per kh * kw
// elements (it was done per element before: at 704x1280 a 3x3 convolution gathers over a billion).
// Consecutive threads take consecutive channels of one pixel, so the reads coalesce; in hwc order the writes
// do too, in chw order one warp's writes for its kh * kw taps fill one contiguous stretch of the row.
// Numerics: a bit-exact gather (elements move as raw bits); padding is +0.
#include "Common.cuh"

struct Im2colParams {
    u64 src;       // device address of x's element [0, 0, 0, 0]
    u64 dst;       // device address of col's element [0, 0] (the patch of output pixel row_begin)
    i64 row_begin; // first output pixel, counted over (N, out_h, out_w)
    i64 rows;      // patches to write
    int height;    // H
    int width;     // W
    int channels;  // C (Cin)
    int kernel_h;  // kh
    int kernel_w;  // kw
    int stride;    // the same along both axes
    int pad_top;   // zero rows above the image
    int pad_left;  // zero columns left of the image
    int out_h;     // Ho
    int out_w;     // Wo
};
static_assert(sizeof(Im2colParams) == 72, "");

template <typename T, bool ChannelsFirst>
__device__ void im2col(const Im2colParams& p) {
    const T* src = device_ptr<const T>(p.src);
    T* dst = device_ptr<T>(p.dst);
    const int taps = p.kernel_h * p.kernel_w;
    const i64 patch = (i64)taps * p.channels;
    const i64 count = p.rows * p.channels;
    for (i64 i = global_index(); i < count; i += grid_stride()) {
        // One channel of one patch per thread: the pixel's coordinates are worked out once for all its taps.
        const i64 r = i / p.channels;
        const int ci = (int)(i - r * p.channels);
        const i64 m = p.row_begin + r;
        const int ox = (int)(m % p.out_w);
        const i64 rest = m / p.out_w;
        const int oy = (int)(rest % p.out_h);
        const i64 n = rest / p.out_h;
        const int iy0 = oy * p.stride - p.pad_top;
        const int ix0 = ox * p.stride - p.pad_left;
        const T* image = src + n * p.height * p.width * p.channels + ci;
        T* row = dst + r * patch;
        for (int ky = 0; ky < p.kernel_h; ky++) {
            const int iy = iy0 + ky;
            const bool row_inside = iy >= 0 && iy < p.height;
            for (int kx = 0; kx < p.kernel_w; kx++) {
                const int ix = ix0 + kx;
                T value = 0;
                if (row_inside && ix >= 0 && ix < p.width) {
                    value = image[((i64)iy * p.width + ix) * p.channels];
                }
                const int tap = ky * p.kernel_w + kx;
                row[ChannelsFirst ? (i64)ci * taps + tap : (i64)tap * p.channels + ci] = value;
            }
        }
    }
}

// The hwc gather 16 bytes at a time, when C is a multiple of the vector (8 fp16/bf16 or 4 fp32 elements) and
// x and col are 16-byte aligned (the launcher checks): a thread per (patch, tap, group of channels),
// consecutive threads on consecutive groups, so every load and store is one coalesced 16-byte access.
struct alignas(16) Im2colVector {
    unsigned x, y, z, w;
};

template <typename T>
__device__ void im2col_vectors(const Im2colParams& p) {
    constexpr int Vector = 16 / sizeof(T);
    const Im2colVector* src = device_ptr<const Im2colVector>(p.src);
    Im2colVector* dst = device_ptr<Im2colVector>(p.dst);
    const int groups = p.channels / Vector; // vectors per pixel
    const int taps = p.kernel_h * p.kernel_w;
    const i64 count = p.rows * taps * groups;
    for (i64 i = global_index(); i < count; i += grid_stride()) {
        const int group = (int)(i % groups);
        const i64 patch_tap = i / groups;
        const int tap = (int)(patch_tap % taps);
        const i64 r = patch_tap / taps;
        const i64 m = p.row_begin + r;
        const int ox = (int)(m % p.out_w);
        const i64 rest = m / p.out_w;
        const int oy = (int)(rest % p.out_h);
        const i64 n = rest / p.out_h;
        const int iy = oy * p.stride - p.pad_top + tap / p.kernel_w;
        const int ix = ox * p.stride - p.pad_left + tap % p.kernel_w;
        Im2colVector value = {0u, 0u, 0u, 0u};
        if (iy >= 0 && iy < p.height && ix >= 0 && ix < p.width) {
            value = src[((n * p.height + iy) * p.width + ix) * groups + group];
        }
        dst[(r * taps + tap) * groups + group] = value; // col[r, tap * C + group * Vector ..]
    }
}

// Elements move as raw bits, so the element type only sets the width: f16 and bf16 share a body.
extern "C" __global__ void im2col_hwc_f32(Im2colParams p) {
    im2col<unsigned int, false>(p);
}
extern "C" __global__ void im2col_hwc_f16(Im2colParams p) {
    im2col<unsigned short, false>(p);
}
extern "C" __global__ void im2col_hwc_bf16(Im2colParams p) {
    im2col<unsigned short, false>(p);
}
extern "C" __global__ void im2col_chw_f32(Im2colParams p) {
    im2col<unsigned int, true>(p);
}
extern "C" __global__ void im2col_chw_f16(Im2colParams p) {
    im2col<unsigned short, true>(p);
}
extern "C" __global__ void im2col_chw_bf16(Im2colParams p) {
    im2col<unsigned short, true>(p);
}
extern "C" __global__ void im2col_hwcv_f32(Im2colParams p) {
    im2col_vectors<unsigned int>(p);
}
extern "C" __global__ void im2col_hwcv_f16(Im2colParams p) {
    im2col_vectors<unsigned short>(p);
}
extern "C" __global__ void im2col_hwcv_bf16(Im2colParams p) {
    im2col_vectors<unsigned short>(p);
}
