// cudai2v-archs: sm_80 sm_89 sm_90
//
// Im2col: gathers the receptive field of each output pixel of a 2-D convolution into one row, so that the
// convolution becomes one GEMM. For output pixel m = row_begin + r = (n * out_h + oy) * out_w + ox:
//   col[r, k] = x[n, oy * stride - pad_top + ky, ox * stride - pad_left + kx, ci], zero in the padding.
//
// Layout: x is (N, H, W, C) channels-last and contiguous; col is [rows, K] row-major, K = kernel_h *
// kernel_w * C. The order of k within a row is the entry's variant, matching the weight the GEMM uses:
//   hwc: k = (ky * kernel_w + kx) * C + ci   (weights packed as [Cout][kh][kw][Cin]; each tap's channels are
//        contiguous, like a channels-last pixel, so reads and writes both coalesce)
//   chw: k = (ci * kernel_h + ky) * kernel_w + kx   (PyTorch's own [Cout][Cin][kh][kw], used unconverted)
// Grid: one-dimensional grid-stride loop over rows * K; consecutive threads write consecutive k of one row.
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
    const i64 patch = (i64)p.kernel_h * p.kernel_w * p.channels;
    const i64 count = p.rows * patch;
    for (i64 i = global_index(); i < count; i += grid_stride()) {
        const i64 r = i / patch;
        const int k = (int)(i - r * patch);
        const i64 m = p.row_begin + r;
        const int ox = (int)(m % p.out_w);
        const i64 rest = m / p.out_w;
        const int oy = (int)(rest % p.out_h);
        const i64 n = rest / p.out_h;
        int ci, ky, kx;
        if (ChannelsFirst) {
            kx = k % p.kernel_w;
            ky = (k / p.kernel_w) % p.kernel_h;
            ci = k / (p.kernel_w * p.kernel_h);
        } else {
            ci = k % p.channels;
            const int tap = k / p.channels;
            kx = tap % p.kernel_w;
            ky = tap / p.kernel_w;
        }
        const int iy = oy * p.stride - p.pad_top + ky;
        const int ix = ox * p.stride - p.pad_left + kx;
        T value = 0;
        if (iy >= 0 && iy < p.height && ix >= 0 && ix < p.width) {
            value = src[((n * p.height + iy) * p.width + ix) * p.channels + ci];
        }
        dst[i] = value;
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
