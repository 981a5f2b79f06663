// cudai2v-archs: sm_80 sm_89 sm_90
//
// GroupNorm on channels-last data: y = (x - mean) * rstd * gamma[c] + beta[c], optionally followed by
// SiLU, with rstd = 1 / sqrt(var + eps) and the biased variance. Channel c belongs to group
// c / (C / groups). Statistics are taken per (video, group), a video being `frames` consecutive items of
// the batch (frames = 1: one image; frames = F: all F frames, PyTorch's GroupNorm over (B, C, F, H, W)).
//
// Layout: x and y are [N, ..., C] contiguous (fp32, fp16 or bf16); gamma and beta are [C] of the same
// dtype; stats is fp32 [videos * groups][2] = (mean, rstd), the small tensor a convolution prologue can
// read; partials is fp32 [videos * groups][splits][3] = (count, mean - K, M2), scratch between passes.
// Three launches:
//   stats:    grid (videos * groups, splits), 256 threads. The block takes one contiguous share of one
//             (video, group)'s positions x C/G elements; consecutive threads read consecutive elements.
//   finalize: one warp per (video, group) combines that statistic's splits and writes mean and rstd.
//   apply:    a grid-stride loop over every element of y.
// Numerics: all in fp32, relative to a shift K, the first element of the (video, group): values near
// the data's own scale, so neither the squares nor the means lose digits to a large common offset
// (activations around 1000 with spread 1 keep their variance). Each thread sums x - K and (x - K)^2
// over a few dozen elements; from then on partial results travel as (count, mean, M2) and are merged
// with Chan's pairwise formula, which loses no precision however many elements a statistic spans
// (millions, for a temporal GroupNorm). K is added back once, in the finalize.
#include "Common.cuh"

#define GN_THREADS 256

struct GroupNormParams {
    u64 x;              // device address of x's element 0
    u64 y;              // the output (apply); may be x
    u64 gamma;          // [C]
    u64 beta;           // [C]
    u64 stats;          // fp32 [stat_count][2]
    u64 partials;       // fp32 [stat_count][splits][3]
    i64 video_elements; // elements of one video: frames x positions x C
    i64 count;          // elements of x
    int channels;       // C
    int groups;         // G
    int group_channels; // C / G
    int group_elements; // elements of one (video, group): video_elements / G (below 2^31)
    int splits;         // blocks per (video, group) in the stats pass
    int stat_count;     // videos x G
    float eps;          // added to the variance
    int silu;           // 1: apply SiLU to the result
};
static_assert(sizeof(GroupNormParams) == 96, "");

// (count, mean, M2) of a set of values; M2 is the sum of squared deviations from the mean.
struct Moments {
    float n;
    float mean;
    float m2;
};

// Chan, Golub and LeVeque's merge of two sets' moments (exact in exact arithmetic, stable in floats).
// An empty side returns the other unchanged.
__device__ __forceinline__ Moments merge(Moments a, Moments b) {
    if (b.n == 0.0f) {
        return a;
    }
    if (a.n == 0.0f) {
        return b;
    }
    const float n = a.n + b.n;
    const float delta = b.mean - a.mean;
    const float wb = b.n / n;
    Moments r;
    r.n = n;
    r.mean = a.mean + delta * wb;
    r.m2 = a.m2 + b.m2 + delta * delta * a.n * wb;
    return r;
}

__device__ __forceinline__ Moments warp_merge(Moments m) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        Moments other;
        other.n = shfl_xor(m.n, offset);
        other.mean = shfl_xor(m.mean, offset);
        other.m2 = shfl_xor(m.m2, offset);
        m = merge(m, other);
    }
    return m;
}

template <typename T>
__device__ void group_norm_stats(const GroupNormParams& p) {
    const int stat = blockIdx.x;
    const int split = blockIdx.y;
    const int video = stat / p.groups;
    const int group = stat % p.groups;
    const T* x = device_ptr<const T>(p.x) + (i64)video * p.video_elements + (i64)group * p.group_channels;
    const float shift = to_f32(x[0]); // K

    // This block's share [begin, end) of the group's elements, numbered position-major. The numbers
    // stay below 2^31 (the launcher checks), so unsigned 32-bit arithmetic cannot overflow here.
    const unsigned share = (unsigned)(((i64)p.group_elements + p.splits - 1) / p.splits);
    const unsigned begin = (unsigned)min((i64)split * share, (i64)p.group_elements);
    const unsigned end = min((unsigned)p.group_elements, begin + share);
    const unsigned group_channels = (unsigned)p.group_channels;
    float sum = 0.0f;
    float squares = 0.0f;
    int n = 0;
    for (unsigned j = begin + threadIdx.x; j < end; j += GN_THREADS) {
        const unsigned position = j / group_channels;
        const unsigned channel = j - position * group_channels;
        const float d = to_f32(x[(i64)position * p.channels + channel]) - shift;
        sum += d;
        squares += d * d;
        ++n;
    }
    Moments m;
    m.n = (float)n;
    m.mean = n > 0 ? sum / m.n : 0.0f;
    m.m2 = n > 0 ? fmaxf(squares - sum * m.mean, 0.0f) : 0.0f;

    __shared__ Moments per_warp[GN_THREADS / 32];
    m = warp_merge(m);
    const int warp = threadIdx.x / 32;
    if (threadIdx.x % 32 == 0) {
        per_warp[warp] = m;
    }
    __syncthreads();
    if (warp == 0) {
        Moments w = per_warp[threadIdx.x % (GN_THREADS / 32)];
        if (threadIdx.x >= GN_THREADS / 32) {
            w.n = 0.0f; // lanes past the warp count contribute nothing
        }
        w = warp_merge(w);
        if (threadIdx.x == 0) {
            float* out = device_ptr<float>(p.partials) + ((i64)stat * p.splits + split) * 3;
            out[0] = w.n;
            out[1] = w.mean;
            out[2] = w.m2;
        }
    }
}

// One warp per statistic: lanes take splits lane, lane + 32, ...; the merged moments give mean and rstd.
template <typename T>
__device__ void group_norm_finalize(const GroupNormParams& p) {
    const i64 stat = (i64)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (stat >= p.stat_count) {
        return;
    }
    const int lane = threadIdx.x % 32;
    const float* partials = device_ptr<const float>(p.partials) + stat * p.splits * 3;
    Moments m;
    m.n = 0.0f;
    m.mean = 0.0f;
    m.m2 = 0.0f;
    for (int s = lane; s < p.splits; s += 32) {
        Moments b;
        b.n = partials[s * 3];
        b.mean = partials[s * 3 + 1];
        b.m2 = partials[s * 3 + 2];
        m = merge(m, b);
    }
    m = warp_merge(m);
    if (lane == 0) {
        const i64 video = stat / p.groups;
        const i64 group = stat % p.groups;
        const float shift =
            to_f32(device_ptr<const T>(p.x)[video * p.video_elements + group * p.group_channels]);
        float* out = device_ptr<float>(p.stats) + stat * 2;
        out[0] = shift + m.mean;
        out[1] = 1.0f / sqrtf(m.m2 / m.n + p.eps);
    }
}

template <typename T>
__device__ void group_norm_apply(const GroupNormParams& p) {
    const T* x = device_ptr<const T>(p.x);
    T* y = device_ptr<T>(p.y);
    const T* gamma = device_ptr<const T>(p.gamma);
    const T* beta = device_ptr<const T>(p.beta);
    const float* stats = device_ptr<const float>(p.stats);
    for (i64 i = global_index(); i < p.count; i += grid_stride()) {
        const int c = (int)(i % p.channels);
        const i64 stat = (i / p.video_elements) * p.groups + c / p.group_channels;
        const float mean = stats[stat * 2];
        const float rstd = stats[stat * 2 + 1];
        float v = (to_f32(x[i]) - mean) * rstd * to_f32(gamma[c]) + to_f32(beta[c]);
        if (p.silu) {
            v = silu(v);
        }
        y[i] = from_f32<T>(v);
    }
}

extern "C" __global__ void group_norm_stats_f32(GroupNormParams p) {
    group_norm_stats<float>(p);
}
extern "C" __global__ void group_norm_stats_f16(GroupNormParams p) {
    group_norm_stats<f16>(p);
}
extern "C" __global__ void group_norm_stats_bf16(GroupNormParams p) {
    group_norm_stats<bf16>(p);
}
extern "C" __global__ void group_norm_finalize_f32(GroupNormParams p) {
    group_norm_finalize<float>(p);
}
extern "C" __global__ void group_norm_finalize_f16(GroupNormParams p) {
    group_norm_finalize<f16>(p);
}
extern "C" __global__ void group_norm_finalize_bf16(GroupNormParams p) {
    group_norm_finalize<bf16>(p);
}
extern "C" __global__ void group_norm_apply_f32(GroupNormParams p) {
    group_norm_apply<float>(p);
}
extern "C" __global__ void group_norm_apply_f16(GroupNormParams p) {
    group_norm_apply<f16>(p);
}
extern "C" __global__ void group_norm_apply_bf16(GroupNormParams p) {
    group_norm_apply<bf16>(p);
}
