// cudai2v-archs: sm_80 sm_89 sm_90
//
// Fused multi-head attention, the forward pass of FlashAttention-2: per sequence b and head h, out =
// softmax(q k^T * scale) v, without ever writing the scores to memory. The GEMM path (AttentionOp.cs) writes
// an fp32 score matrix and a probability matrix per head and reads each back; at 704x1280 the UNet's spatial
// attention has 14,080 keys per query, so those matrices dominate its time. Here each block keeps its
// queries' scores in registers, one tile of 64 keys at a time, with a running maximum and sum (the online
// softmax), and rescales its output accumulators whenever the maximum grows.
//
// Layout: q, k, v and out are channels-last, head h owning channels h*D .. h*D+D-1 of each row; rows are
// q_row (k_row, ...) elements apart and sequences q_batch (k_batch, ...) elements apart, so k and v may be
// views into one packed tensor. Sequence b of q and out reads sequence b / kv_group of k and v: kv_group
// consecutive sequences share one k/v sequence (a video's frames reading its one context, projected once
// rather than repeated per frame); kv_group = 1 pairs them one to one. The host checks every address and
// stride is a multiple of 8 elements (16 bytes).
// Grid: x = query blocks x sequences (query block fastest), y = heads; 128 threads. Each of the 4 warps owns
// 16 queries; the block shares each tile of 64 keys and values through shared memory, two tiles deep: while
// the warps compute on one, cp.async copies the next from global memory (16 bytes per copy, zeros past the
// end).
// Arithmetic: mma.sync m16n8k16 (fp16 or bf16 operands, fp32 accumulators), the tensor cores of sm_80 and
// newer.
// Fragment layouts (PTX ISA, "Matrix Fragments for mma.m16n8k16"), with g = lane / 4 and t = lane % 4:
//   A (16x16, row-major): a0 = (g, 2t..2t+1), a1 = (g+8, 2t..2t+1),
//                         a2 = (g, 2t+8..2t+9), a3 = (g+8, 2t+8..2t+9)
//   B (16x8, column):     b0 = (2t..2t+1, g), b1 = (2t+8..2t+9, g)
//   C (16x8, fp32):       c0, c1 = (g, 2t..2t+1), c2, c3 = (g+8, 2t..2t+1)
// So S = Q K^T takes its B fragments from K's rows as stored (two adjacent channels of one key), and the C
// fragments of two neighbouring 8-key tiles of S are exactly the A fragment of P for the 16-key step of P V.
// P V's B fragments (two adjacent keys of one channel) come from the row-major value tile through
// ldmatrix.trans, which hands each lane the transposed pairs of four 8x8 blocks in one instruction.
// Numerics: scores and the softmax in fp32, in log2 units (scale * log2(e) folded into one multiply, then
// exp2); P is rounded to the element type once, as the GEMM path rounds its probabilities; the division by
// the row's sum happens once, in fp32, at the end. Keys past the end score -infinity; query rows past the end
// compute on zeros and are not stored.
#include "Common.cuh"

struct FlashAttentionParams {
    u64 q;       // device address of q (B, Lq, heads * D)
    u64 k;       // k (B, Lk, heads * D)
    u64 v;       // v (B, Lk, heads * D)
    u64 out;     // out (B, Lq, heads * D)
    i64 q_batch; // elements between sequences of q
    i64 k_batch;
    i64 v_batch;
    i64 out_batch;
    int q_row; // elements between rows (tokens) of q
    int k_row;
    int v_row;
    int out_row;
    int queries;      // Lq
    int keys;         // Lk, at least 1
    int query_blocks; // ceil(Lq / 64): blockIdx.x = b * query_blocks + query block
    float scale_log2; // 1/sqrt(D) * log2(e)
    int kv_group;     // sequences of q per sequence of k and v (at least 1); 4 bytes of padding follow
};
static_assert(sizeof(FlashAttentionParams) == 104, "");

constexpr int kBlockQueries = 64; // 16 per warp
constexpr int kBlockKeys = 64;    // keys per tile
constexpr int kThreads = 128;

// c += a b for one 16x8x16 tile (fp32 accumulators).
template <typename T>
__device__ __forceinline__ void mma_16x8x16(float (&c)[4], const unsigned (&a)[4], unsigned b0, unsigned b1);

template <>
__device__ __forceinline__ void mma_16x8x16<f16>(float (&c)[4], const unsigned (&a)[4], unsigned b0,
                                                 unsigned b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <>
__device__ __forceinline__ void mma_16x8x16<bf16>(float (&c)[4], const unsigned (&a)[4], unsigned b0,
                                                  unsigned b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two values rounded to T, the first in the low half (the lower column or key index).
template <typename T>
__device__ __forceinline__ unsigned pack2(float lo, float hi) {
    return (unsigned)from_f32<T>(lo).bits | ((unsigned)from_f32<T>(hi).bits << 16);
}

// Two adjacent 16-bit elements as one 32-bit word (the address is 4-byte aligned: an even element index).
__device__ __forceinline__ unsigned load2(const unsigned short* p) {
    return *reinterpret_cast<const unsigned*>(p);
}

// The shared-memory address of a pointer into shared memory, as cp.async and ldmatrix take it.
__device__ __forceinline__ unsigned shared_address(const void* p) {
    unsigned address;
    asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(address) : "l"(p));
    return address;
}

// Copies 16 bytes from global to shared memory without holding a register; with valid false it reads nothing
// and writes 16 zero bytes (a source size of 0).
__device__ __forceinline__ void copy16_async(void* shared, const void* global, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(shared_address(shared)), "l"(global),
                 "r"(valid ? 16 : 0)
                 : "memory");
}

__device__ __forceinline__ void async_commit() {
    asm volatile("cp.async.commit_group;" ::: "memory");
}

// Waits until at most N of this thread's committed copy groups are still in flight.
template <int N>
__device__ __forceinline__ void async_wait() {
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

// Four transposed 8x8 blocks of 16-bit elements: lane l gives the address of row l % 8 of block l / 8.
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned (&r)[4], const unsigned short* row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(shared_address(row))
                 : "memory");
}

// Starts copying keys key0 .. key0+63 of k and v into one buffer (zeros past the end); one commit group.
template <int D>
__device__ __forceinline__ void load_tile(unsigned short* k_tile, unsigned short* v_tile,
                                          const unsigned short* k, const unsigned short* v,
                                          const FlashAttentionParams& p, int key0) {
    constexpr int Stride = D + 8;
    for (int i = threadIdx.x; i < kBlockKeys * (D / 8); i += kThreads) {
        const int key = i / (D / 8), c = (i % (D / 8)) * 8;
        const bool valid = key0 + key < p.keys;
        const i64 row = valid ? key0 + key : 0;
        copy16_async(&k_tile[key * Stride + c], k + row * p.k_row + c, valid);
        copy16_async(&v_tile[key * Stride + c], v + row * p.v_row + c, valid);
    }
    async_commit();
}

template <typename T, int D>
__device__ void flash_attention(const FlashAttentionParams& p) {
    static_assert(D % 16 == 0 && D / 8 % 2 == 0, "D must be a multiple of 16");
    // Elements per key row in shared memory: +8 spreads a fragment load's 32 lanes over all 32 banks (rows 36
    // or 44 words apart) and keeps every row 16-byte aligned for cp.async and ldmatrix.
    constexpr int Stride = D + 8;
    __shared__ alignas(16) unsigned short k_tiles[2][kBlockKeys * Stride];
    __shared__ alignas(16) unsigned short v_tiles[2][kBlockKeys * Stride];

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, t = lane & 3;
    const i64 b = blockIdx.x / p.query_blocks;
    // This thread's two query rows: row0 and row0 + 8.
    const int row0 = (int)(blockIdx.x % p.query_blocks) * kBlockQueries + warp * 16 + g;
    const int row1 = row0 + 8;
    const int h = blockIdx.y;
    const unsigned short* q = device_ptr<const unsigned short>(p.q) + b * p.q_batch + h * D;
    const i64 kv = b / p.kv_group; // the k/v sequence this sequence of queries reads
    const unsigned short* k = device_ptr<const unsigned short>(p.k) + kv * p.k_batch + h * D;
    const unsigned short* v = device_ptr<const unsigned short>(p.v) + kv * p.v_batch + h * D;
    unsigned short* out = device_ptr<unsigned short>(p.out) + b * p.out_batch + h * D;

    const int tiles = (p.keys + kBlockKeys - 1) / kBlockKeys;
    load_tile<D>(k_tiles[0], v_tiles[0], k, v, p, 0);

    // This warp's 16 queries as A fragments, one per 16 channels; rows past the end are zeros.
    unsigned qa[D / 16][4];
#pragma unroll
    for (int s = 0; s < D / 16; s++) {
        const int c = s * 16 + 2 * t;
        qa[s][0] = row0 < p.queries ? load2(q + (i64)row0 * p.q_row + c) : 0u;
        qa[s][1] = row1 < p.queries ? load2(q + (i64)row1 * p.q_row + c) : 0u;
        qa[s][2] = row0 < p.queries ? load2(q + (i64)row0 * p.q_row + c + 8) : 0u;
        qa[s][3] = row1 < p.queries ? load2(q + (i64)row1 * p.q_row + c + 8) : 0u;
    }

    const float negative_infinity = __int_as_float(0xff800000);
    float o[D / 8][4]; // output accumulators: tile j holds channels 8j .. 8j+7 (C layout)
#pragma unroll
    for (int j = 0; j < D / 8; j++) {
        o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
    }
    // The running maxima of rows row0 and row1 (log2 units), and this thread's share of their running sums.
    float max0 = negative_infinity, max1 = negative_infinity;
    float sum0 = 0.0f, sum1 = 0.0f;

    for (int tile = 0; tile < tiles; tile++) {
        const int key0 = tile * kBlockKeys;
        const unsigned short* k_tile = k_tiles[tile & 1];
        const unsigned short* v_tile = v_tiles[tile & 1];
        // Start the next tile's copies into the other buffer (free since the barrier that ended the previous
        // iteration), then wait for this tile's: every thread's copies have landed after the barrier.
        if (tile + 1 < tiles) {
            load_tile<D>(k_tiles[(tile + 1) & 1], v_tiles[(tile + 1) & 1], k, v, p, key0 + kBlockKeys);
            async_wait<1>();
        } else {
            async_wait<0>();
        }
        __syncthreads();

        // S = Q K^T for the warp's 16 queries and the tile's 64 keys: 8 tiles of 8 keys.
        float s[kBlockKeys / 8][4];
#pragma unroll
        for (int j = 0; j < kBlockKeys / 8; j++) {
            s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
            const unsigned short* key_row = &k_tile[(j * 8 + g) * Stride + 2 * t];
#pragma unroll
            for (int c = 0; c < D / 16; c++) {
                mma_16x8x16<T>(s[j], qa[c], load2(key_row + c * 16), load2(key_row + c * 16 + 8));
            }
        }

        // Scores in log2 units; keys past the end never count. Each row's 64 scores are spread over the 4
        // threads of its group (lanes 4g .. 4g+3), so two butterfly steps give each of them the row's
        // maximum.
        float tile_max0 = negative_infinity, tile_max1 = negative_infinity;
#pragma unroll
        for (int j = 0; j < kBlockKeys / 8; j++) {
#pragma unroll
            for (int e = 0; e < 2; e++) {
                const bool valid = key0 + j * 8 + 2 * t + e < p.keys;
                s[j][e] = valid ? s[j][e] * p.scale_log2 : negative_infinity;
                s[j][e + 2] = valid ? s[j][e + 2] * p.scale_log2 : negative_infinity;
                tile_max0 = fmaxf(tile_max0, s[j][e]);
                tile_max1 = fmaxf(tile_max1, s[j][e + 2]);
            }
        }
        tile_max0 = fmaxf(tile_max0, shfl_xor(tile_max0, 1));
        tile_max0 = fmaxf(tile_max0, shfl_xor(tile_max0, 2));
        tile_max1 = fmaxf(tile_max1, shfl_xor(tile_max1, 1));
        tile_max1 = fmaxf(tile_max1, shfl_xor(tile_max1, 2));

        // A larger maximum rescales what was summed so far (by 0 on the first tile: exp2(-inf) = 0). Every
        // tile holds at least one valid key (key0 < keys), so the new maxima are finite.
        const float new_max0 = fmaxf(max0, tile_max0), new_max1 = fmaxf(max1, tile_max1);
        const float rescale0 = exp2f(max0 - new_max0), rescale1 = exp2f(max1 - new_max1);
        max0 = new_max0;
        max1 = new_max1;
        sum0 *= rescale0;
        sum1 *= rescale1;
#pragma unroll
        for (int j = 0; j < D / 8; j++) {
            o[j][0] *= rescale0;
            o[j][1] *= rescale0;
            o[j][2] *= rescale1;
            o[j][3] *= rescale1;
        }

        // P = exp2(S - max), rounded to T as the A fragments of P V: key tiles 2s and 2s+1 form 16-key step
        // s.
        unsigned pa[kBlockKeys / 16][4];
#pragma unroll
        for (int step = 0; step < kBlockKeys / 16; step++) {
            const float(&lo)[4] = s[2 * step];
            const float(&hi)[4] = s[2 * step + 1];
            const float p00 = exp2f(lo[0] - max0), p01 = exp2f(lo[1] - max0), p02 = exp2f(lo[2] - max1),
                        p03 = exp2f(lo[3] - max1);
            const float p10 = exp2f(hi[0] - max0), p11 = exp2f(hi[1] - max0), p12 = exp2f(hi[2] - max1),
                        p13 = exp2f(hi[3] - max1);
            sum0 += (p00 + p01) + (p10 + p11);
            sum1 += (p02 + p03) + (p12 + p13);
            pa[step][0] = pack2<T>(p00, p01);
            pa[step][1] = pack2<T>(p02, p03);
            pa[step][2] = pack2<T>(p10, p11);
            pa[step][3] = pack2<T>(p12, p13);
        }

        // O += P V, two channel tiles (16 channels) per ldmatrix: blocks 0 and 1 are keys 0-7 and 8-15 of the
        // step for channels 8j .. 8j+7 (b0, b1 of tile j), blocks 2 and 3 the same keys for tile j+1.
        const int block = lane >> 3, block_row = lane & 7;
#pragma unroll
        for (int j = 0; j < D / 8; j += 2) {
#pragma unroll
            for (int step = 0; step < kBlockKeys / 16; step++) {
                unsigned b[4];
                ldmatrix_x4_trans(
                    b, &v_tile[(step * 16 + (block & 1) * 8 + block_row) * Stride + (j + (block >> 1)) * 8]);
                mma_16x8x16<T>(o[j], pa[step], b[0], b[1]);
                mma_16x8x16<T>(o[j + 1], pa[step], b[2], b[3]);
            }
        }
        __syncthreads(); // every warp is done with this buffer before the next iteration refills it
    }

    // The row sums were kept per thread; the group's 4 threads hold a row's whole sum between them.
    sum0 += shfl_xor(sum0, 1);
    sum0 += shfl_xor(sum0, 2);
    sum1 += shfl_xor(sum1, 1);
    sum1 += shfl_xor(sum1, 2);
    const float inverse0 = 1.0f / sum0, inverse1 = 1.0f / sum1;
#pragma unroll
    for (int j = 0; j < D / 8; j++) {
        const int c = j * 8 + 2 * t;
        if (row0 < p.queries) {
            *reinterpret_cast<unsigned*>(out + (i64)row0 * p.out_row + c) =
                pack2<T>(o[j][0] * inverse0, o[j][1] * inverse0);
        }
        if (row1 < p.queries) {
            *reinterpret_cast<unsigned*>(out + (i64)row1 * p.out_row + c) =
                pack2<T>(o[j][2] * inverse1, o[j][3] * inverse1);
        }
    }
}

extern "C" __global__ void flash_attention_d64_f16(FlashAttentionParams p) {
    flash_attention<f16, 64>(p);
}
extern "C" __global__ void flash_attention_d64_bf16(FlashAttentionParams p) {
    flash_attention<bf16, 64>(p);
}
extern "C" __global__ void flash_attention_d80_f16(FlashAttentionParams p) {
    flash_attention<f16, 80>(p);
}
extern "C" __global__ void flash_attention_d80_bf16(FlashAttentionParams p) {
    flash_attention<bf16, 80>(p);
}
