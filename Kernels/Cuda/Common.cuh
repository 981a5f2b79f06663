// Common.cuh: the prelude every CudaI2V kernel includes (#include "Common.cuh"), handed to NVRTC in
// memory.
//
// It uses no CUDA header at all, so a kernel compiles with nothing but libnvrtc (Debian's and pip's
// NVRTC ship no headers). Half precision is carried as raw bits in two distinct structs, f16 and bf16,
// so templates and overloads can tell them apart; conversions are single PTX instructions:
//   f16 -> f32: cvt.f32.f16 (exact)        f32 -> f16: cvt.rn.f16.f32 (round to nearest even)
//   bf16 -> f32: the bits shifted up 16     f32 -> bf16: cvt.rn.bf16.f32 (nearest even; sm_80+)
// NaN stays NaN (the canonical quiet NaN); overflow rounds to infinity as IEEE 754 says.
// Warp reductions use shfl.sync.bfly (a butterfly: every lane ends with the full result).
// Indices are 64-bit: tensors of more than 2^31 elements exist at video resolutions.
#pragma once

typedef unsigned long long u64;
typedef long long i64;

struct f16 {
    unsigned short bits;
};

struct bf16 {
    unsigned short bits;
};

__device__ __forceinline__ float to_f32(float x) {
    return x;
}

__device__ __forceinline__ float to_f32(f16 x) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x.bits));
    return f;
}

__device__ __forceinline__ float to_f32(bf16 x) {
    float f;
    asm("mov.b32 %0, %1;" : "=f"(f) : "r"((unsigned int)x.bits << 16));
    return f;
}

template <typename T>
__device__ __forceinline__ T from_f32(float x);

template <>
__device__ __forceinline__ float from_f32<float>(float x) {
    return x;
}

template <>
__device__ __forceinline__ f16 from_f32<f16>(float x) {
    f16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h.bits) : "f"(x));
    return h;
}

template <>
__device__ __forceinline__ bf16 from_f32<bf16>(float x) {
    bf16 h;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h.bits) : "f"(x));
    return h;
}

// The value of v held by the lane whose index differs from this lane's in the bits of lane_mask (all 32
// lanes take part).
__device__ __forceinline__ float shfl_xor(float v, int lane_mask) {
    float other;
    asm volatile("shfl.sync.bfly.b32 %0, %1, %2, 0x1f, 0xffffffff;" : "=f"(other) : "f"(v), "r"(lane_mask));
    return other;
}

// Sum and maximum over the 32 lanes of a warp; every lane receives the result.
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        v += shfl_xor(v, offset);
    }
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        v = fmaxf(v, shfl_xor(v, offset));
    }
    return v;
}

// The thread's index over a one-dimensional grid, and the step of a grid-stride loop.
__device__ __forceinline__ i64 global_index() {
    return (i64)blockIdx.x * blockDim.x + threadIdx.x;
}

__device__ __forceinline__ i64 grid_stride() {
    return (i64)gridDim.x * blockDim.x;
}

// A typed pointer from a device address carried in a params struct.
template <typename T>
__device__ __forceinline__ T* device_ptr(u64 address) {
    return reinterpret_cast<T*>(address);
}

// Activations in fp32, shared by the activation kernels and the fused GroupNorm + SiLU. expf and erff are
// NVRTC built-ins (libdevice, within 2 ulp; no header needed). For x below about -88, e^-x overflows to
// infinity and silu gives -0, where the exact value is a negligible -x e^x.
__device__ __forceinline__ float silu(float x) {
    return x / (1.0f + expf(-x));
}

// The exact GELU (PyTorch approximate="none"): x * 0.5 * (1 + erf(x / sqrt(2))).
__device__ __forceinline__ float gelu_erf(float x) {
    return x * 0.5f * (1.0f + erff(x * 0.70710678118654752f));
}
