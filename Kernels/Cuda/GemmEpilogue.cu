// cudai2v-archs: sm_80 sm_89 sm_90
//
// GEMM epilogue: dst[r, c] = acc[r, c] + bias[c] + row_add[g, c] + residual[r, c], where row r belongs to
// group g = (row_begin + r) / group_rows; each addend is optional (a zero address leaves it out). It finishes
// a convolution or linear layer whose GEMM wrote fp32 results: the bias, then the per-image row (a resnet's
// time embedding: one group per image of out_h * out_w rows), then the residual, the order of the IOps
// contract.
//
// Layout: acc is fp32 [rows, cols] row-major; dst and residual are [rows, cols] of the element type, bias
// [cols] and row_add [groups, cols] likewise; all contiguous. dst may be the residual itself (each element is
// read before it is written, by the same thread).
// Grid: one-dimensional grid-stride loop over rows * cols; consecutive threads handle consecutive columns.
// Numerics: every addition in fp32, in the order above, and one rounding to the element type at the end
// (nearest even): what the CPU backend computes in fp32, rounded once.
#include "Common.cuh"

struct GemmEpilogueParams {
    u64 acc;        // device address of the fp32 GEMM result [rows, cols]
    u64 dst;        // device address of the output [rows, cols]
    u64 bias;       // [cols], or 0 for none
    u64 row_add;    // [groups, cols], or 0 for none
    u64 residual;   // [rows, cols], or 0 for none
    i64 rows;       // rows to finish
    i64 row_begin;  // the global index of row 0 (chunks of a larger output), for the group of each row
    i64 group_rows; // rows per group of row_add (pixels per image); at least 1
    int cols;       // columns (output channels)
    int pad;        // keeps the size a multiple of 8 on both sides
};
static_assert(sizeof(GemmEpilogueParams) == 72, "");

template <typename T>
__device__ void gemm_epilogue(const GemmEpilogueParams& p) {
    const float* acc = device_ptr<const float>(p.acc);
    T* dst = device_ptr<T>(p.dst);
    const T* bias = device_ptr<const T>(p.bias);
    const T* row_add = device_ptr<const T>(p.row_add);
    const T* residual = device_ptr<const T>(p.residual);
    const i64 count = p.rows * p.cols;
    for (i64 i = global_index(); i < count; i += grid_stride()) {
        const i64 r = i / p.cols;
        const int c = (int)(i - r * p.cols);
        float y = acc[i];
        if (p.bias != 0) {
            y += to_f32(bias[c]);
        }
        if (p.row_add != 0) {
            y += to_f32(row_add[(p.row_begin + r) / p.group_rows * p.cols + c]);
        }
        if (p.residual != 0) {
            y += to_f32(residual[i]);
        }
        dst[i] = from_f32<T>(y);
    }
}

extern "C" __global__ void gemm_epilogue_f32(GemmEpilogueParams p) {
    gemm_epilogue<float>(p);
}
extern "C" __global__ void gemm_epilogue_f16(GemmEpilogueParams p) {
    gemm_epilogue<f16>(p);
}
extern "C" __global__ void gemm_epilogue_bf16(GemmEpilogueParams p) {
    gemm_epilogue<bf16>(p);
}
