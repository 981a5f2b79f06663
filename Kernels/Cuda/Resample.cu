// cudai2v-archs: sm_80 sm_89 sm_90
//
// Resizing channels-last images (N, H, W, C) to (N, OH, OW, C):
//   nearest: y[n, oy, ox, c] = x[n, floor(oy * H / OH), floor(ox * W / OW), c]   (PyTorch "nearest")
//   pool:    y[n, oy, ox, c] = mean of x[n, y0..y1), x0..x1), c] with y0 = floor(oy * H / OH) and
//            y1 = ceil((oy + 1) * H / OH), columns likewise (PyTorch's AdaptiveAvgPool2d windows)
//
// Layout: x and y contiguous, fp32, fp16 or bf16; y must not overlap x.
// Grid: one-dimensional grid-stride loop over y's elements, channels innermost, so consecutive threads
// read and write consecutive channels of one pixel (coalesced).
// Numerics: window edges use exact 64-bit integer arithmetic (no float index rounding); nearest is a
// bit-exact copy; the pool sums in fp32 and divides by the window's element count.
#include "Common.cuh"

struct ResampleParams {
    u64 src;        // device address of x's element 0
    u64 dst;        // device address of y's element 0
    i64 count;      // elements of y
    int in_height;  // H
    int in_width;   // W
    int out_height; // OH
    int out_width;  // OW
    int channels;   // C
    int pad;        // keeps the size a multiple of 8 on both sides
};
static_assert(sizeof(ResampleParams) == 48, "");

// The output element i as (image n, row oy, column ox, channel c).
struct Pixel {
    i64 n;
    int oy;
    int ox;
    int c;
};

__device__ __forceinline__ Pixel pixel_of(const ResampleParams& p, i64 i) {
    Pixel q;
    q.c = (int)(i % p.channels);
    i64 rest = i / p.channels;
    q.ox = (int)(rest % p.out_width);
    rest /= p.out_width;
    q.oy = (int)(rest % p.out_height);
    q.n = rest / p.out_height;
    return q;
}

template <typename T>
__device__ void resample_nearest(const ResampleParams& p) {
    const T* src = device_ptr<const T>(p.src);
    T* dst = device_ptr<T>(p.dst);
    for (i64 i = global_index(); i < p.count; i += grid_stride()) {
        const Pixel q = pixel_of(p, i);
        const int iy = (int)((i64)q.oy * p.in_height / p.out_height);
        const int ix = (int)((i64)q.ox * p.in_width / p.out_width);
        dst[i] = src[((q.n * p.in_height + iy) * p.in_width + ix) * p.channels + q.c];
    }
}

template <typename T>
__device__ void resample_pool(const ResampleParams& p) {
    const T* src = device_ptr<const T>(p.src);
    T* dst = device_ptr<T>(p.dst);
    for (i64 i = global_index(); i < p.count; i += grid_stride()) {
        const Pixel q = pixel_of(p, i);
        const int y0 = (int)((i64)q.oy * p.in_height / p.out_height);
        const int y1 = (int)(((i64)(q.oy + 1) * p.in_height + p.out_height - 1) / p.out_height);
        const int x0 = (int)((i64)q.ox * p.in_width / p.out_width);
        const int x1 = (int)(((i64)(q.ox + 1) * p.in_width + p.out_width - 1) / p.out_width);
        float sum = 0.0f;
        for (int iy = y0; iy < y1; ++iy) {
            const T* row = src + ((q.n * p.in_height + iy) * p.in_width) * p.channels + q.c;
            for (int ix = x0; ix < x1; ++ix) {
                sum += to_f32(row[(i64)ix * p.channels]);
            }
        }
        dst[i] = from_f32<T>(sum / (float)((y1 - y0) * (x1 - x0)));
    }
}

extern "C" __global__ void resample_nearest_f32(ResampleParams p) {
    resample_nearest<float>(p);
}
extern "C" __global__ void resample_nearest_f16(ResampleParams p) {
    resample_nearest<f16>(p);
}
extern "C" __global__ void resample_nearest_bf16(ResampleParams p) {
    resample_nearest<bf16>(p);
}
extern "C" __global__ void resample_pool_f32(ResampleParams p) {
    resample_pool<float>(p);
}
extern "C" __global__ void resample_pool_f16(ResampleParams p) {
    resample_pool<f16>(p);
}
extern "C" __global__ void resample_pool_bf16(ResampleParams p) {
    resample_pool<bf16>(p);
}
