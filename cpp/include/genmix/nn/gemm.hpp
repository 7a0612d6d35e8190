// A packed matrix product for the MLP passes: C (+)= op(A) op(B), single-threaded, with
// every element of C summed in one fixed order.
//
// Why not Eigen's GEMM: Eigen splits the inner dimension into blocks whose size depends on
// the shapes, and adds each block's partial sum to C, so an element's bits depend on how
// the product was cut. Here the register tile is loaded from C, accumulates the next
// k-block with one FMA per term, and is stored back, so every element is the single chain
// c = fma(a_p, b_p, c) for p = 0, 1, ..., k-1 (starting from C, or from 0) whatever the
// blocking. Cutting C into pieces (one per thread) therefore never changes a bit, and the
// MLP passes can split a batch's products over threads by rows or columns of C instead of
// giving each thread its own copy of the gradient.
//
// Method (as in BLIS / GotoBLAS): A is packed into kMr x k micro-panels (zero-padded at the
// edges), B into k x kNr micro-panels unless its columns are contiguous (then it is read in
// place: packing it would cost as much as the product saves on the narrow batches here),
// and a kMr x kNr register tile (2 x 6 SIMD vectors of simd.hpp's width: 16 x 6 floats /
// 8 x 6 doubles with 32-byte vectors, 32 x 6 / 16 x 6 with 64-byte ones) runs over them.
//
// Operands are addressed by strides, so transposes cost nothing:
//   op(A)(i, p) = A[i * a_rs + p * a_cs]   (m x k)
//   op(B)(p, j) = B[p * b_rs + j * b_cs]   (k x n)
//   C(i, j)     = C[i + j * ldc]           (m x n, column-major)
#pragma once

#include <Eigen/Core>

#include "genmix/simd.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace genmix {
namespace gemm {

template <class T>
constexpr int kLanes = Simd<T>::lanes;
template <class T>
constexpr int kMr = 2 * kLanes<T>;  // rows of the register tile
constexpr int kNr = 6;             // columns of the register tile
constexpr long kKc = 256;          // inner-dimension block (a micro-panel of A stays in L1)
constexpr long kNc = 2040;         // columns of B packed at a time
// Rows of A packed at a time (stays in L2): about 144, rounded up to whole register tiles,
// since pack_a writes whole kMr-row micro-panels (zero-padded) and the buffer is sized by it.
template <class T>
constexpr long kMc = (144 + kMr<T> - 1) / kMr<T> * kMr<T>;
static_assert(kMc<float> % kMr<float> == 0 && kMc<double> % kMr<double> == 0, "A's block must be whole tiles");
static_assert(kNc % kNr == 0, "B's block must be whole micro-panels");

template <class T>
using AlignedVec = std::vector<T, Eigen::aligned_allocator<T>>;

// v's storage with room for at least n values. Grows only: shrinking and growing again
// would zero-fill the buffer in every product.
template <class T>
T* room_for(AlignedVec<T>& v, long n) {
    if ((long)v.size() < n) v.resize((std::size_t)n);
    return v.data();
}

// Pack buffers, reused between calls; one per thread.
template <class T>
struct PackBuffers {
    AlignedVec<T> a, b;
};

namespace detail {

// C tile (kMr x kNr at c, leading dimension ldc) (+)= Ap (kMr x kc) * B (kc x kNr), where B
// is a packed micro-panel (Direct = false: element (p, j) at bp[p * kNr + j]) or read in
// place from kNr contiguous columns (Direct = true: element (p, j) at bp[p + j * b_cs]).
template <class T, bool Direct>
inline void micro_kernel(long kc, const T* __restrict ap, const T* __restrict bp, long b_cs, T* c, long ldc,
                         bool load_c) {
    using simd::load;
    using P = typename Simd<T>::type;
    constexpr int L = kLanes<T>;
    P c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (load_c) {
        c00 = load(c + 0 * ldc), c01 = load(c + 0 * ldc + L);
        c10 = load(c + 1 * ldc), c11 = load(c + 1 * ldc + L);
        c20 = load(c + 2 * ldc), c21 = load(c + 2 * ldc + L);
        c30 = load(c + 3 * ldc), c31 = load(c + 3 * ldc + L);
        c40 = load(c + 4 * ldc), c41 = load(c + 4 * ldc + L);
        c50 = load(c + 5 * ldc), c51 = load(c + 5 * ldc + L);
    } else {
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = P{};
    }
    const long cs = Direct ? b_cs : 1;  // column step of B
    const T *b0 = bp, *b1 = bp + cs, *b2 = bp + 2 * cs, *b3 = bp + 3 * cs, *b4 = bp + 4 * cs, *b5 = bp + 5 * cs;
    const long rs = Direct ? 1 : kNr;  // row step of B
    for (long p = 0; p < kc; ++p) {
        const P a0 = load(ap), a1 = load(ap + L);
        const long q = p * rs;
        T b = b0[q];
        c00 += a0 * b, c01 += a1 * b;
        b = b1[q];
        c10 += a0 * b, c11 += a1 * b;
        b = b2[q];
        c20 += a0 * b, c21 += a1 * b;
        b = b3[q];
        c30 += a0 * b, c31 += a1 * b;
        b = b4[q];
        c40 += a0 * b, c41 += a1 * b;
        b = b5[q];
        c50 += a0 * b, c51 += a1 * b;
        ap += 2 * L;
    }
    using simd::store;
    store(c + 0 * ldc, c00), store(c + 0 * ldc + L, c01);
    store(c + 1 * ldc, c10), store(c + 1 * ldc + L, c11);
    store(c + 2 * ldc, c20), store(c + 2 * ldc + L, c21);
    store(c + 3 * ldc, c30), store(c + 3 * ldc + L, c31);
    store(c + 4 * ldc, c40), store(c + 4 * ldc + L, c41);
    store(c + 5 * ldc, c50), store(c + 5 * ldc + L, c51);
}

// Packs op(A)(i0 .. i0+mc, p0 .. p0+kc) into micro-panels of kMr rows, p-major inside.
template <class T>
void pack_a(const T* A, long a_rs, long a_cs, long mc, long kc, T* out) {
    constexpr int mr = kMr<T>;
    for (long i = 0; i < mc; i += mr) {
        const long rows = std::min<long>(mr, mc - i);
        const T* src = A + i * a_rs;
        if (a_rs == 1 && rows == mr) {
            for (long p = 0; p < kc; ++p, out += mr) {
                const T* s = src + p * a_cs;
                for (int r = 0; r < mr; ++r) out[r] = s[r];  // a fixed-size copy, not a memmove call
            }
        } else if (a_cs == 1 && rows == mr) {  // rows of op(A) are contiguous: transpose 1 x kc strips
            for (long r = 0; r < mr; ++r) {
                const T* s = src + r * a_rs;
                for (long p = 0; p < kc; ++p) out[p * mr + r] = s[p];
            }
            out += mr * kc;
        } else {
            for (long p = 0; p < kc; ++p, out += mr) {
                long r = 0;
                for (; r < rows; ++r) out[r] = src[r * a_rs + p * a_cs];
                for (; r < mr; ++r) out[r] = T(0);
            }
        }
    }
}

// Packs op(B)(p0 .. p0+kc, j0 .. j0+nc) into micro-panels of kNr columns, p-major inside.
template <class T>
void pack_b(const T* B, long b_rs, long b_cs, long kc, long nc, T* out) {
    for (long j = 0; j < nc; j += kNr) {
        const long cols = std::min<long>(kNr, nc - j);
        const T* src = B + j * b_cs;
        if (b_rs == 1 && cols == kNr) {  // columns contiguous: interleave 6 of them
            const T *s0 = src, *s1 = src + b_cs, *s2 = src + 2 * b_cs, *s3 = src + 3 * b_cs, *s4 = src + 4 * b_cs,
                    *s5 = src + 5 * b_cs;
            for (long p = 0; p < kc; ++p, out += kNr) {
                out[0] = s0[p], out[1] = s1[p], out[2] = s2[p], out[3] = s3[p], out[4] = s4[p], out[5] = s5[p];
            }
        } else if (b_cs == 1 && cols == kNr) {  // rows contiguous: 6 values per row
            constexpr int L = kLanes<T>;
            for (long p = 0; p < kc; ++p, out += kNr) {
                const T* s = src + p * b_rs;
                if constexpr (L < kNr) {  // vectors side by side, the last one overlapping
                    for (int o = 0; o < kNr; o += L) {
                        const int at = std::min(o, kNr - L);
                        simd::store(out + at, simd::load(s + at));
                    }
                } else if ((kc - p) * kNr >= L && j + L <= nc) {
                    // one vector: its last lanes land on the rows after p of this panel, written
                    // next (the store stays inside the panel, the load inside the row's nc values)
                    simd::store(out, simd::load(s));
                } else {
                    for (int c = 0; c < kNr; ++c) out[c] = s[c];
                }
            }
        } else {
            for (long p = 0; p < kc; ++p, out += kNr) {
                long c = 0;
                for (; c < cols; ++c) out[c] = src[p * b_rs + c * b_cs];
                for (; c < kNr; ++c) out[c] = T(0);
            }
        }
    }
}

}  // namespace detail

// Results with at most this many rows skip the register tile (which would be mostly
// padding): a network's 1- or 2-wide output layer.
constexpr long kTinyRows = 4;

namespace detail {

// C (m <= kTinyRows rows) (+)= op(A) op(B) without packing. Rows of B contiguous: each row of
// C is one axpy chain per element, in p order, as in the register tile. Columns of B
// contiguous: each element is a dot product in the SIMD lanes, reduced in a fixed order.
// Returns false (nothing done) for other layouts.
template <class T>
bool tiny_product(long m, long n, long k, const T* A, long a_rs, long a_cs, const T* B, long b_rs, long b_cs, T* C,
                  long ldc, bool accumulate, AlignedVec<T>& tmp) {
    if (b_cs == 1) {
        T* c = room_for(tmp, n);
        for (long i = 0; i < m; ++i) {
            for (long j = 0; j < n; ++j) c[j] = accumulate ? C[i + j * ldc] : T(0);
            for (long p = 0; p < k; ++p) {
                const T a = A[i * a_rs + p * a_cs];
                const T* b = B + p * b_rs;
                for (long j = 0; j < n; ++j) c[j] = madd(a, b[j], c[j]);
            }
            for (long j = 0; j < n; ++j) C[i + j * ldc] = c[j];
        }
        return true;
    }
    if (b_rs == 1) {
        T* a = room_for(tmp, k);
        for (long i = 0; i < m; ++i) {
            for (long p = 0; p < k; ++p) a[p] = A[i * a_rs + p * a_cs];
            constexpr int L = kLanes<T>;
            for (long j = 0; j < n; ++j) {
                const T* b = B + j * b_cs;
                typename Simd<T>::type acc{};
                long p = 0;
                for (; p + L <= k; p += L) acc += simd::load(a + p) * simd::load(b + p);
                T dot = simd::reduce_add<T>(acc);
                for (; p < k; ++p) dot = madd(a[p], b[p], dot);
                C[i + j * ldc] = accumulate ? C[i + j * ldc] + dot : dot;
            }
        }
        return true;
    }
    return false;
}

}  // namespace detail

// C (m x n, column-major, leading dimension ldc) = op(A) op(B) when accumulate is false,
// C += op(A) op(B) when true. k == 0 leaves C (accumulate) or zeroes it. `tiny`: the caller's
// whole product has at most kTinyRows rows (a part of a larger one must not take that path,
// whose bits differ).
template <class T>
void product(long m, long n, long k, const T* A, long a_rs, long a_cs, const T* B, long b_rs, long b_cs, T* C,
             long ldc, bool accumulate, PackBuffers<T>& buf, bool tiny) {
    constexpr int mr = kMr<T>;
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        if (!accumulate)
            for (long j = 0; j < n; ++j) std::fill(C + j * ldc, C + j * ldc + m, T(0));
        return;
    }
    if (tiny && m <= kTinyRows &&
        detail::tiny_product(m, n, k, A, a_rs, a_cs, B, b_rs, b_cs, C, ldc, accumulate, buf.a))
        return;
    const long nc_max = std::min(kNc, (n + kNr - 1) / kNr * kNr);
    const long mc_max = std::min(kMc<T>, (m + mr - 1) / mr * mr);  // pack_a writes whole micro-panels
    const long kc_max = std::min(kKc, k);
    T* b_pack = room_for(buf.b, kc_max * nc_max);
    T* a_pack = room_for(buf.a, kc_max * mc_max);
    alignas(64) T edge[kMr<T> * kNr] = {};
    // B with contiguous columns is read in place (only a last, narrower column tile is packed)
    // (not when the column stride is a multiple of 4 KiB: the six columns would then compete
    // for the same L1 cache set)
    const bool direct_b = b_rs == 1 && (b_cs * (long)sizeof(T)) % 4096 != 0;
    for (long jc = 0; jc < n; jc += kNc) {
        const long nc = std::min(kNc, n - jc);
        for (long pc = 0; pc < k; pc += kKc) {
            const long kc = std::min(kKc, k - pc);
            const bool load_c = accumulate || pc > 0;
            const T* bsrc = B + pc * b_rs + jc * b_cs;
            if (!direct_b) {
                detail::pack_b(bsrc, b_rs, b_cs, kc, nc, b_pack);
            } else if (nc % kNr != 0) {
                const long j_edge = nc / kNr * kNr;
                detail::pack_b(bsrc + j_edge * b_cs, b_rs, b_cs, kc, nc - j_edge, b_pack + j_edge * kc);
            }
            for (long ic = 0; ic < m; ic += kMc<T>) {
                const long mc = std::min(kMc<T>, m - ic);
                detail::pack_a(A + ic * a_rs + pc * a_cs, a_rs, a_cs, mc, kc, a_pack);
                for (long jr = 0; jr < nc; jr += kNr) {
                    const long cols = std::min<long>(kNr, nc - jr);
                    const bool in_place = direct_b && cols == kNr;
                    const T* bp = in_place ? bsrc + jr * b_cs : b_pack + jr * kc;
                    for (long ir = 0; ir < mc; ir += mr) {
                        const long rows = std::min<long>(mr, mc - ir);
                        const T* ap = a_pack + ir * kc;
                        T* c = C + (ic + ir) + (jc + jr) * ldc;
                        if (rows == mr && cols == kNr) {
                            if (in_place) detail::micro_kernel<T, true>(kc, ap, bp, b_cs, c, ldc, load_c);
                            else detail::micro_kernel<T, false>(kc, ap, bp, 0, c, ldc, load_c);
                        } else {  // edge tile: through a full-size buffer
                            if (load_c)
                                for (long j = 0; j < cols; ++j)
                                    for (long i = 0; i < rows; ++i) edge[i + j * mr] = c[i + j * ldc];
                            if (in_place) detail::micro_kernel<T, true>(kc, ap, bp, b_cs, edge, mr, load_c);
                            else detail::micro_kernel<T, false>(kc, ap, bp, 0, edge, mr, load_c);
                            for (long j = 0; j < cols; ++j)
                                for (long i = 0; i < rows; ++i) c[i + j * ldc] = edge[i + j * mr];
                        }
                    }
                }
            }
        }
    }
}

}  // namespace gemm
}  // namespace genmix
