// cudai2v-archs: sm_80 sm_89 sm_90
//
// Additions in fp32 arithmetic, rounded once to the element type:
//   add:      out[i] = a[i] + scale * b[i]                       (scale = 1: IOps.Add, exactly a + b)
//   add_rows: out[n, ..., c] = a[n, ..., c] + scale * b[n, c]    (IOps.AddBroadcastRows with scale = 1)
//
// Layout: a and out are contiguous arrays of count elements; for add, b is too; for add_rows, b is
// [N, C] and a row holds row_elements = (product of the middle axes) x C elements. out may be a (and b
// when it has a's shape): each element is read and written by the same thread.
// Grid: one-dimensional grid-stride loop; consecutive threads take consecutive elements (coalesced; the
// broadcast row is re-read from cache).
// Numerics: scale * b + a may become one fused multiply-add (a single rounding); with scale = 1 the
// product is exact, so the sum is the correctly rounded fp32 a + b either way.
#include "Common.cuh"

struct AddParams {
    u64 a;            // device address of a's element 0
    u64 b;            // device address of b's element 0
    u64 out;          // device address of the output's element 0
    i64 count;        // elements of a and out
    i64 row_elements; // add_rows: elements of a per leading index n
    int channels;     // add_rows: C
    float scale;      // multiplies b
};
static_assert(sizeof(AddParams) == 48, "");

template <typename T>
__device__ void add(const AddParams& p) {
    const T* a = device_ptr<const T>(p.a);
    const T* b = device_ptr<const T>(p.b);
    T* out = device_ptr<T>(p.out);
    for (i64 i = global_index(); i < p.count; i += grid_stride()) {
        out[i] = from_f32<T>(to_f32(a[i]) + p.scale * to_f32(b[i]));
    }
}

template <typename T>
__device__ void add_rows(const AddParams& p) {
    const T* a = device_ptr<const T>(p.a);
    const T* b = device_ptr<const T>(p.b);
    T* out = device_ptr<T>(p.out);
    for (i64 i = global_index(); i < p.count; i += grid_stride()) {
        const i64 n = i / p.row_elements;
        const i64 c = i % p.channels;
        out[i] = from_f32<T>(to_f32(a[i]) + p.scale * to_f32(b[n * p.channels + c]));
    }
}

extern "C" __global__ void add_f32(AddParams p) {
    add<float>(p);
}
extern "C" __global__ void add_f16(AddParams p) {
    add<f16>(p);
}
extern "C" __global__ void add_bf16(AddParams p) {
    add<bf16>(p);
}
extern "C" __global__ void add_rows_f32(AddParams p) {
    add_rows<float>(p);
}
extern "C" __global__ void add_rows_f16(AddParams p) {
    add_rows<f16>(p);
}
extern "C" __global__ void add_rows_bf16(AddParams p) {
    add_rows<bf16>(p);
}
